// Overview picture: hovering or selecting a Service in the legend highlights its pods.
function focus(topo, service, on) {
  topo.classList.toggle("focusing", on);
  for (const pod of topo.querySelectorAll(".pod[data-svc]")) {
    const services = pod.dataset.svc.split(" ");
    pod.classList.toggle("hl", on && services.includes(service));
  }
}

export function init(root) {
  for (const topo of root.querySelectorAll("[data-topology]:not([data-bound])")) {
    topo.dataset.bound = "1";
    let pinned = null;
    for (const button of topo.querySelectorAll("[data-legend]")) {
      const service = button.dataset.legend;
      button.addEventListener("mouseenter", () => { if (!pinned) focus(topo, service, true); });
      button.addEventListener("mouseleave", () => { if (!pinned) focus(topo, service, false); });
      button.addEventListener("click", () => {
        pinned = pinned === service ? null : service;
        for (const other of topo.querySelectorAll("[data-legend]")) {
          other.setAttribute("aria-pressed", String(other.dataset.legend === pinned));
        }
        focus(topo, pinned || service, Boolean(pinned));
      });
    }
  }
}
