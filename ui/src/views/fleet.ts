import { html } from 'htm/preact';

export function FleetView() {
  return html`<main><h1>Fleet</h1><p class="muted">Coming soon.</p></main>`;
}
