import { css } from "lit";

/** The card's look: HA theme variables only (light and dark themes), fits a phone's width. */
export const cardStyles = css`
  :host {
    display: block;
    --jarvis-gap: 12px;
    --jarvis-listening: var(--info-color, #039be5);
    --jarvis-thinking: var(--warning-color, #ffa600);
    --jarvis-speaking: var(--success-color, #43a047);
    --jarvis-off: var(--error-color, #db4437);
  }
  ha-card {
    display: block;
    padding: 16px;
    box-sizing: border-box;
    color: var(--primary-text-color);
    background: var(--ha-card-background, var(--card-background-color, #fff));
    overflow: hidden;
  }
  .header {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    gap: 8px;
    justify-content: space-between;
  }
  .title {
    font-size: var(--ha-card-header-font-size, 22px);
    line-height: 1.3;
  }
  .servers {
    display: flex;
    flex-wrap: wrap;
    gap: 6px;
  }
  .pill {
    display: inline-flex;
    align-items: center;
    gap: 6px;
    padding: 2px 10px;
    border-radius: 12px;
    font-size: 12px;
    background: var(--secondary-background-color, rgba(127, 127, 127, 0.12));
    color: var(--primary-text-color);
    white-space: nowrap;
  }
  .dot {
    width: 8px;
    height: 8px;
    border-radius: 50%;
    background: var(--disabled-text-color, #9e9e9e);
    flex: none;
  }
  .ok .dot {
    background: var(--jarvis-speaking);
  }
  .bad .dot {
    background: var(--jarvis-off);
  }
  .banner {
    margin-top: var(--jarvis-gap);
    padding: 8px 12px;
    border-radius: 8px;
    background: var(--warning-color, #ffa600);
    color: var(--text-primary-color, #fff);
    font-size: 14px;
  }
  section {
    margin-top: var(--jarvis-gap);
  }
  h3 {
    margin: 0 0 6px;
    font-size: 13px;
    font-weight: 500;
    text-transform: uppercase;
    letter-spacing: 0.04em;
    color: var(--secondary-text-color);
  }
  .muted-text {
    color: var(--secondary-text-color);
    font-size: 14px;
  }
  .satellite {
    display: flex;
    align-items: center;
    gap: 10px;
    padding: 6px 0;
    min-width: 0;
  }
  .satellite + .satellite {
    border-top: 1px solid var(--divider-color, rgba(127, 127, 127, 0.2));
  }
  .satellite ha-icon {
    color: var(--state-icon-color, var(--secondary-text-color));
    flex: none;
  }
  .grow {
    flex: 1 1 auto;
    min-width: 0;
  }
  .name {
    font-size: 15px;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .sub {
    font-size: 12px;
    color: var(--secondary-text-color);
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .chip {
    flex: none;
    padding: 2px 10px;
    border-radius: 12px;
    font-size: 12px;
    font-weight: 500;
    border: 1px solid var(--divider-color, rgba(127, 127, 127, 0.3));
    color: var(--secondary-text-color);
  }
  .chip.listening {
    color: var(--text-primary-color, #fff);
    background: var(--jarvis-listening);
    border-color: transparent;
  }
  .chip.thinking {
    color: var(--text-primary-color, #fff);
    background: var(--jarvis-thinking);
    border-color: transparent;
  }
  .chip.speaking {
    color: var(--text-primary-color, #fff);
    background: var(--jarvis-speaking);
    border-color: transparent;
  }
  .chip.disconnected {
    color: var(--jarvis-off);
    border-color: var(--jarvis-off);
  }
  .agent {
    display: flex;
    flex-wrap: wrap;
    gap: 4px 10px;
    align-items: baseline;
    font-size: 14px;
    padding: 2px 0;
  }
  .agent .name {
    flex: 1 1 auto;
  }
  form {
    display: flex;
    gap: 8px;
    align-items: center;
    flex-wrap: wrap;
  }
  input[type="text"] {
    flex: 1 1 160px;
    min-width: 0;
    box-sizing: border-box;
    font: inherit;
    font-size: 16px; /* no zoom-in on phones */
    padding: 8px 12px;
    border-radius: 8px;
    border: 1px solid var(--divider-color, rgba(127, 127, 127, 0.4));
    background: var(--input-fill-color, var(--secondary-background-color, transparent));
    color: var(--primary-text-color);
  }
  input[type="text"]:focus {
    outline: 2px solid var(--primary-color);
    outline-offset: -1px;
  }
  button {
    font: inherit;
    font-size: 14px;
    display: inline-flex;
    align-items: center;
    gap: 6px;
    padding: 8px 14px;
    border-radius: 8px;
    border: none;
    cursor: pointer;
    background: var(--primary-color);
    color: var(--text-primary-color, #fff);
    touch-action: none;
    user-select: none;
    -webkit-user-select: none;
  }
  button.secondary {
    background: var(--secondary-background-color, rgba(127, 127, 127, 0.15));
    color: var(--primary-text-color);
  }
  button.secondary.active {
    background: var(--jarvis-listening);
    color: var(--text-primary-color, #fff);
  }
  button:disabled {
    cursor: default;
    opacity: 0.5;
  }
  .exchange {
    margin-top: 8px;
    font-size: 14px;
  }
  .said {
    color: var(--secondary-text-color);
  }
  .reply {
    margin-top: 2px;
    padding: 8px 12px;
    border-radius: 8px;
    background: var(--secondary-background-color, rgba(127, 127, 127, 0.12));
    white-space: pre-wrap;
    overflow-wrap: anywhere;
  }
  .error {
    color: var(--error-color, #db4437);
    font-size: 13px;
  }
  .note {
    font-size: 12px;
    color: var(--secondary-text-color);
    margin-top: 4px;
  }
  ol {
    list-style: none;
    margin: 0;
    padding: 0;
  }
  .turn {
    padding: 8px 0;
    font-size: 14px;
    min-width: 0;
  }
  .turn + .turn {
    border-top: 1px solid var(--divider-color, rgba(127, 127, 127, 0.2));
  }
  .turn-head {
    display: flex;
    flex-wrap: wrap;
    gap: 4px 8px;
    font-size: 12px;
    color: var(--secondary-text-color);
  }
  .badge {
    padding: 0 6px;
    border-radius: 6px;
    background: var(--secondary-background-color, rgba(127, 127, 127, 0.15));
  }
  .heard {
    margin-top: 2px;
    overflow-wrap: anywhere;
  }
  .turn .answer {
    color: var(--secondary-text-color);
    overflow-wrap: anywhere;
  }
  .bars {
    margin-top: 6px;
    display: grid;
    grid-template-columns: minmax(0, max-content) minmax(40px, 1fr) max-content;
    gap: 2px 8px;
    align-items: center;
    font-size: 11px;
    color: var(--secondary-text-color);
  }
  .track {
    position: relative;
    height: 6px;
    border-radius: 3px;
    background: var(--divider-color, rgba(127, 127, 127, 0.2));
    overflow: hidden;
  }
  .bar {
    position: absolute;
    top: 0;
    bottom: 0;
    border-radius: 3px;
    background: var(--primary-color);
  }
  .bar.wake,
  .bar.speech {
    background: var(--jarvis-listening);
  }
  .bar.stt {
    background: var(--accent-color, #ff9800);
  }
  .bar.intent {
    background: var(--jarvis-thinking);
  }
  .bar.tts {
    background: var(--jarvis-speaking);
  }
  .ms {
    text-align: right;
    font-variant-numeric: tabular-nums;
  }
`;
