import { html } from 'htm/preact';

export function TargetView({ id }: { id: string; region?: string }) {
  return html`<main><h1>${id}</h1><p class="muted">Coming soon.</p></main>`;
}
