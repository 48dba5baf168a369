// Cluster switcher: navigate as soon as a cluster is picked (the Go button stays for no-JS).
export function init(root) {
  for (const form of root.querySelectorAll("form[data-switcher]:not([data-bound])")) {
    form.dataset.bound = "1";
    const go = form.querySelector("[data-switcher-go]");
    if (go) go.hidden = true;
    form.querySelector("select").addEventListener("change", () => form.submit());
  }
}
