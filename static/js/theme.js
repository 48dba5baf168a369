// Dark-mode toggle: remembers the choice; without one the OS preference applies.
const KEY = "routescope-theme";

function current() {
  const set = document.documentElement.dataset.theme;
  if (set) return set;
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function init(root) {
  for (const button of root.querySelectorAll("[data-theme-toggle]:not([data-bound])")) {
    button.dataset.bound = "1";
    button.setAttribute("aria-pressed", String(current() === "dark"));
    button.addEventListener("click", () => {
      const next = current() === "dark" ? "light" : "dark";
      document.documentElement.dataset.theme = next;
      button.setAttribute("aria-pressed", String(next === "dark"));
      try { localStorage.setItem(KEY, next); } catch (e) { /* not persisted */ }
    });
  }
}
