// Confirmation dialogs: a button with data-open-dialog="ID" opens <dialog id="ID">.
export function init(root) {
  for (const opener of root.querySelectorAll("[data-open-dialog]:not([data-bound])")) {
    opener.dataset.bound = "1";
    opener.addEventListener("click", () => {
      const dialog = document.getElementById(opener.dataset.openDialog);
      if (dialog) dialog.showModal();
    });
  }
  for (const closer of root.querySelectorAll("[data-close-dialog]:not([data-bound])")) {
    closer.dataset.bound = "1";
    closer.addEventListener("click", () => closer.closest("dialog").close());
  }
}
