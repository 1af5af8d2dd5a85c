/** Entry point: defines `jarvis-card` and its editor, and lists the card in HA's card picker. */

import { CARD_TYPE } from "./config.js";
import { JarvisCardEditor } from "./editor.js";
import { JarvisCard } from "./jarvis-card.js";
import { localizer } from "./localize.js";

export const CARD_VERSION = "0.1.0";

/** HA's root elements: once one is defined, HA's frontend has set up its element registry. */
const HA_ROOTS = ["home-assistant", "hc-main"];
const HA_WAIT_MS = 10_000;

/**
 * Resolve once HA's frontend has booted far enough to own `window.customElements`.
 *
 * The integration loads this file as an "extra module", in parallel with HA's own code, and HA
 * then installs a scoped custom element registry polyfill that replaces `window.customElements`:
 * an element defined before that is unknown to the new registry ("Custom element doesn't exist").
 * HA shows such a card as soon as it is defined in the registry it uses.
 */
function whenHaBooted(): Promise<void> {
  return new Promise((resolve) => {
    const started = Date.now();
    const check = (): void => {
      const registry = window.customElements;
      if (HA_ROOTS.some((name) => registry.get(name)) || Date.now() - started > HA_WAIT_MS) {
        resolve();
      } else {
        setTimeout(check, 25);
      }
    };
    check();
  });
}

function define(): void {
  const registry = window.customElements;
  if (!registry.get(CARD_TYPE)) registry.define(CARD_TYPE, JarvisCard);
  if (!registry.get(`${CARD_TYPE}-editor`)) registry.define(`${CARD_TYPE}-editor`, JarvisCardEditor);
}

void whenHaBooted().then(define);

const t = localizer(typeof navigator !== "undefined" ? navigator.language : "en");
window.customCards = window.customCards ?? [];
if (!window.customCards.some((card) => card.type === CARD_TYPE)) {
  window.customCards.push({
    type: CARD_TYPE,
    name: t("card.name"),
    description: t("card.description"),
    preview: false,
    documentationURL: "https://github.com/jarvis-voice/jarvis#the-dashboard-card",
  });
}

export { JarvisCard, JarvisCardEditor };
