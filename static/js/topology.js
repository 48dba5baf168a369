// Overview picture: hovering a pod, or hovering/selecting a Service in the legend,
// highlights every pod of that Service. One delegated listener: a big cluster draws
// thousands of dots.
function focus(topo, service, on) {
  topo.classList.toggle("focusing", on);
  for (const pod of topo.querySelectorAll(".pod[data-svc]")) {
    pod.classList.toggle("hl", on && pod.dataset.svc.split(" ").includes(service));
  }
}

export function init(root) {
  for (const topo of root.querySelectorAll("[data-topology]:not([data-bound])")) {
    topo.dataset.bound = "1";
    let pinned = null;
    const hover = (service) => { if (!pinned) focus(topo, service, Boolean(service)); };
    topo.addEventListener("mouseover", (event) => {
      const legend = event.target.closest("[data-legend]");
      const pod = event.target.closest(".pod[data-svc]");
      if (legend) hover(legend.dataset.legend);
      else if (pod && pod.dataset.svc) hover(pod.dataset.svc.split(" ")[0]);
    });
    topo.addEventListener("mouseout", (event) => {
      if (event.target.closest("[data-legend], .pod[data-svc]")) hover(null);
    });
    // Keyboard users get the same preview when a legend button takes focus.
    topo.addEventListener("focusin", (event) => {
      const legend = event.target.closest("[data-legend]");
      if (legend) hover(legend.dataset.legend);
    });
    topo.addEventListener("focusout", (event) => {
      if (event.target.closest("[data-legend]")) hover(null);
    });
    for (const button of topo.querySelectorAll("[data-legend]")) {
      button.addEventListener("click", () => {
        const service = button.dataset.legend;
        pinned = pinned === service ? null : service;
        for (const other of topo.querySelectorAll("[data-legend]")) {
          other.setAttribute("aria-pressed", String(other.dataset.legend === pinned));
        }
        focus(topo, service, Boolean(pinned));
      });
    }
  }
}
