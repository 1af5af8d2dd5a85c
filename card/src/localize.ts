/** The card's strings in English and French; other languages fall back to English. */

const en = {
  "card.title": "Jarvis",
  "card.name": "Jarvis",
  "card.description":
    "Satellites, last requests with stage times, the Ollama server and a box to talk to Jarvis.",
  "section.satellites": "Satellites",
  "section.agents": "Agents",
  "section.talk": "Talk to Jarvis",
  "section.turns": "Last requests",
  "activity.idle": "Idle",
  "activity.listening": "Listening",
  "activity.thinking": "Thinking",
  "activity.speaking": "Speaking",
  "activity.disconnected": "Disconnected",
  "activity.unknown": "Unknown",
  "satellite.muted": "Muted",
  "satellite.unmuted": "Microphone on",
  "satellite.volume": "Volume {value}",
  "satellite.mic_volume": "Mic volume {value}",
  "satellite.none": "No satellite yet: add one in Settings → Devices & services.",
  "satellite.no_area": "No room",
  "server.reachable": "Ollama reachable",
  "server.unreachable": "Ollama unreachable",
  "server.unknown": "Ollama: no news",
  "server.none": "Jarvis is not set up",
  "agent.latency": "latency {value}",
  "agent.speed": "{value} tokens/s",
  "agent.no_figures": "no request yet",
  "talk.placeholder": "Ask Jarvis…",
  "talk.send": "Send",
  "talk.hold": "Hold to talk",
  "talk.release": "Release to send",
  "talk.listening": "Listening…",
  "talk.thinking": "Thinking…",
  "talk.no_mic": "No microphone here (the page needs HTTPS or localhost).",
  "talk.mic_denied": "The browser did not allow the microphone.",
  "talk.no_pipeline": "No Assist pipeline with speech-to-text: voice is off.",
  "talk.error": "Error: {message}",
  "talk.via_chat": "via Jarvis chat",
  "talk.via_conversation": "via conversation",
  "turns.none": "No request yet.",
  "turns.admin_only": "Only an administrator can see past requests.",
  "turns.local": "handled locally",
  "turns.tools": "tools: {names}",
  "turns.typed": "typed",
  "turns.browser": "browser microphone",
  "turns.total": "total {value}",
  "stage.wake": "wake word",
  "stage.speech": "speech",
  "stage.stt": "transcript",
  "stage.intent": "intent",
  "stage.tts": "reply audio",
  "connection.lost": "Connection to Home Assistant lost; reconnecting…",
  "editor.title": "Title",
  "editor.satellites": "Satellites (empty: all)",
  "editor.agent": "Agent for the text box (empty: Jarvis's first agent)",
  "editor.pipeline": "Assist pipeline (empty: the preferred one)",
  "editor.turns": "Number of requests shown",
  "editor.show_agents": "Show the agents and the server",
  "editor.show_talk": "Show the text box and push-to-talk",
} as const;

export type StringKey = keyof typeof en;

const fr: Record<StringKey, string> = {
  "card.title": "Jarvis",
  "card.name": "Jarvis",
  "card.description":
    "Satellites, dernières requêtes avec la durée de chaque étape, le serveur Ollama et une zone pour parler à Jarvis.",
  "section.satellites": "Satellites",
  "section.agents": "Agents",
  "section.talk": "Parler à Jarvis",
  "section.turns": "Dernières requêtes",
  "activity.idle": "En veille",
  "activity.listening": "Écoute",
  "activity.thinking": "Réfléchit",
  "activity.speaking": "Parle",
  "activity.disconnected": "Déconnecté",
  "activity.unknown": "Inconnu",
  "satellite.muted": "Muet",
  "satellite.unmuted": "Micro actif",
  "satellite.volume": "Volume {value}",
  "satellite.mic_volume": "Volume du micro {value}",
  "satellite.none": "Aucun satellite : ajoutez-en un dans Paramètres → Appareils et services.",
  "satellite.no_area": "Aucune pièce",
  "server.reachable": "Ollama joignable",
  "server.unreachable": "Ollama injoignable",
  "server.unknown": "Ollama : pas de nouvelles",
  "server.none": "Jarvis n'est pas configuré",
  "agent.latency": "latence {value}",
  "agent.speed": "{value} jetons/s",
  "agent.no_figures": "aucune requête pour l'instant",
  "talk.placeholder": "Demandez à Jarvis…",
  "talk.send": "Envoyer",
  "talk.hold": "Maintenir pour parler",
  "talk.release": "Relâcher pour envoyer",
  "talk.listening": "J'écoute…",
  "talk.thinking": "Je réfléchis…",
  "talk.no_mic": "Pas de micro ici (la page doit être en HTTPS ou sur localhost).",
  "talk.mic_denied": "Le navigateur n'a pas autorisé le micro.",
  "talk.no_pipeline": "Aucun pipeline Assist avec reconnaissance vocale : la voix est désactivée.",
  "talk.error": "Erreur : {message}",
  "talk.via_chat": "via le chat Jarvis",
  "talk.via_conversation": "via la conversation",
  "turns.none": "Aucune requête pour l'instant.",
  "turns.admin_only": "Seul un administrateur peut voir les requêtes passées.",
  "turns.local": "traité localement",
  "turns.tools": "outils : {names}",
  "turns.typed": "tapé",
  "turns.browser": "micro du navigateur",
  "turns.total": "total {value}",
  "stage.wake": "mot d'activation",
  "stage.speech": "parole",
  "stage.stt": "transcription",
  "stage.intent": "intention",
  "stage.tts": "audio de réponse",
  "connection.lost": "Connexion à Home Assistant perdue ; reconnexion…",
  "editor.title": "Titre",
  "editor.satellites": "Satellites (vide : tous)",
  "editor.agent": "Agent de la zone de texte (vide : le premier agent de Jarvis)",
  "editor.pipeline": "Pipeline Assist (vide : le préféré)",
  "editor.turns": "Nombre de requêtes affichées",
  "editor.show_agents": "Afficher les agents et le serveur",
  "editor.show_talk": "Afficher la zone de texte et le bouton micro",
};

const STRINGS: Record<string, Record<StringKey, string>> = { en, fr };

/** The strings' language for HA's language tag ("fr", "fr-CA" → fr; anything else → en). */
export function stringsLanguage(language: string | undefined): "en" | "fr" {
  const base = (language ?? "en").toLowerCase().split(/[-_]/)[0];
  return base === "fr" ? "fr" : "en";
}

export type Localize = (key: StringKey, vars?: Record<string, string | number>) => string;

export function localizer(language: string | undefined): Localize {
  const table = STRINGS[stringsLanguage(language)] ?? en;
  return (key, vars) =>
    table[key].replace(/\{(\w+)\}/g, (match, name: string) =>
      vars !== undefined && name in vars ? String(vars[name]) : match,
    );
}

/** Both tables, for the tests (every key translated). */
export const TRANSLATIONS = { en: en as Record<StringKey, string>, fr };
