// Live data: the header's data age keeps counting, and a page of a synced cluster polls
// the cluster's revision; when it moves the page reloads itself, unless the user is
// typing in a form (then a note offers the reload).
const MINUTE = 60 * 1000;

function age(ms) {
  const minutes = Math.floor(ms / MINUTE);
  if (minutes < 1) return "less than a minute";
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? "" : "s"}`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} hour${hours === 1 ? "" : "s"}`;
  const days = Math.floor(hours / 24);
  return `${days} day${days === 1 ? "" : "s"}`;
}

function busy() {
  const active = document.activeElement;
  return active instanceof HTMLElement && active.closest("main form") !== null
    && ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName);
}

function changed(revision) {
  if (!busy()) {
    window.location.reload();
    return;
  }
  const note = document.querySelector("[data-live-note]");
  if (!note) return;
  note.querySelector("[data-live-new]").textContent = revision;
  note.hidden = false;
  note.querySelector("[data-live-reload]").addEventListener("click", () => window.location.reload());
}

export function init(root) {
  for (const badge of root.querySelectorAll("[data-live]:not([data-bound])")) {
    badge.dataset.bound = "1";
    const time = badge.querySelector("time");
    const tick = () => { time.textContent = age(Date.now() - Date.parse(time.dateTime)); };
    tick();
    setInterval(tick, 30 * 1000);
    const url = badge.dataset.liveUrl;
    if (!url) continue;
    const every = Math.max(1, Number(badge.dataset.liveEvery) || 15) * 1000;
    let seen = badge.dataset.revision;
    const poll = async () => {
      try {
        const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
        if (response.ok) {
          const { revision } = await response.json();
          if (String(revision) !== seen) {
            seen = String(revision);
            changed(seen);
            return;
          }
        }
      } catch (error) { /* offline for a moment: try again next time */ }
      setTimeout(poll, every);
    };
    setTimeout(poll, every);
  }
}
