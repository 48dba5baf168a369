// Runs before first paint (classic script in <head>) so a saved theme never flashes.
(function () {
  try {
    var saved = localStorage.getItem("routescope-theme");
    if (saved === "dark" || saved === "light") document.documentElement.dataset.theme = saved;
  } catch (e) { /* storage disabled: follow prefers-color-scheme */ }
})();
