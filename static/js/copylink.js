// "Copy link" buttons for shareable scenario URLs.
export function init(root) {
  for (const button of root.querySelectorAll("[data-copy]:not([data-bound])")) {
    button.dataset.bound = "1";
    button.addEventListener("click", async () => {
      const url = new URL(button.dataset.copy, window.location.href).href;
      try {
        await navigator.clipboard.writeText(url);
        button.textContent = "Link copied";
      } catch (e) {
        button.textContent = url;
      }
    });
  }
}
