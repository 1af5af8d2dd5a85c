/** Entry point: defines `jarvis-card` and its editor, and lists the card in HA's card picker. */

import { CARD_TYPE } from "./config.js";
import { JarvisCardEditor } from "./editor.js";
import { JarvisCard } from "./jarvis-card.js";
import { localizer } from "./localize.js";

export const CARD_VERSION = "0.1.0";

if (!customElements.get(CARD_TYPE)) customElements.define(CARD_TYPE, JarvisCard);
if (!customElements.get(`${CARD_TYPE}-editor`)) {
  customElements.define(`${CARD_TYPE}-editor`, JarvisCardEditor);
}

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
