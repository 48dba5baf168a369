// Entry point: every feature module exports init(root); run on load and after each htmx swap.
import * as theme from "./theme.js";
import * as switcher from "./switcher.js";
import * as topology from "./topology.js";
import * as dialogs from "./dialogs.js";
import * as copylink from "./copylink.js";
import * as copytext from "./copytext.js";
import * as search from "./search.js";
import * as live from "./live.js";

const features = [theme, switcher, topology, dialogs, copylink, copytext, search, live];

function initAll(root) {
  for (const feature of features) feature.init(root);
}

initAll(document);
document.addEventListener("htmx:load", (event) => initAll(event.detail.elt));
