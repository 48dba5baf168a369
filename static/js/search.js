// Search: "/" focuses the top bar's box (not while typing elsewhere); the arrow keys walk
// the results, Escape goes back to the box and closes them.
function typing(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function hits(container) {
  return [...container.querySelectorAll("a[data-search-hit]")];
}

function walk(container, input, event) {
  const links = hits(container);
  const at = links.indexOf(document.activeElement);
  if (event.key === "ArrowDown" && links.length) {
    event.preventDefault();
    links[Math.min(at + 1, links.length - 1)].focus();
  } else if (event.key === "ArrowUp" && at >= 0) {
    event.preventDefault();
    if (at === 0 && input) input.focus();
    else links[at - 1].focus();
  } else if (event.key === "Escape" && input) {
    event.preventDefault();
    if (container.id === "search-results") container.replaceChildren();
    input.focus();
  }
}

let slashBound = false;

export function init(root) {
  if (!slashBound) {
    slashBound = true;
    document.addEventListener("keydown", (event) => {
      if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
      if (typing(event.target)) return;
      const box = document.getElementById("global-search");
      if (!box) return;
      event.preventDefault();
      box.focus();
      box.select();
    });
  }
  for (const container of root.querySelectorAll("[data-search-results]:not([data-bound])")) {
    container.dataset.bound = "1";
    const form = container.closest("form[data-search]");
    const input = form ? form.querySelector("input[type=search]")
      : document.getElementById("search-page-q");
    container.addEventListener("keydown", (event) => walk(container, input, event));
    if (form) {
      input.addEventListener("keydown", (event) => walk(container, input, event));
      // Leaving the box and its results closes them.
      form.addEventListener("focusout", (event) => {
        if (!form.contains(event.relatedTarget)) container.replaceChildren();
      });
    }
  }
}
