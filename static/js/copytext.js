// "Copy" buttons for the what-if page's patches: data-copy-from names the element whose text
// is copied (a static module: the CSP allows no inline script).
export function init(root) {
  for (const button of root.querySelectorAll("[data-copy-from]:not([data-bound])")) {
    button.dataset.bound = "1";
    const label = button.textContent;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copyFrom);
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = "Copied";
      } catch (e) {
        // No clipboard (plain http, denied): select the text so Ctrl-C copies it.
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "Selected: press Ctrl-C";
      }
      setTimeout(() => { button.textContent = label; }, 2000);
    });
  }
}
