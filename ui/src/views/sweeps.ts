import { html } from 'htm/preact';

export function SweepsView(_: { id?: string }) {
  return html`<main><h1>Sweeps</h1><p class="muted">Coming soon.</p></main>`;
}
