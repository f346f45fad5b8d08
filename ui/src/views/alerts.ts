import { html } from 'htm/preact';

export function AlertsView() {
  return html`<main><h1>Alerts</h1><p class="muted">Coming soon.</p></main>`;
}
