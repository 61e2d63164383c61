/** A tiny element builder: text is always set as text, never parsed as HTML (labels and paths come from the index). */
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) el.append(child);
  return el;
}

/** A stable colour per label, so one class looks the same everywhere on the page. */
export function labelHue(label: string): number {
  let hash = 0;
  for (const ch of label) hash = (hash * 31 + ch.codePointAt(0)!) >>> 0;
  return (hash * 137.508) % 360;
}

/** The saturated colour of a label (map dots, legend swatches); chips use pale tints of the same hue. */
export const labelColour = (label: string, alpha = 1): string =>
  `hsl(${Math.round(labelHue(label))} 60% 48% / ${alpha})`;

export function labelChip(label: string): HTMLSpanElement {
  const chip = h('span', { class: 'chip' }, label);
  chip.style.setProperty('--hue', String(Math.round(labelHue(label))));
  return chip;
}

export const percent = (v: number, digits = 1): string => `${(100 * v).toFixed(digits)}%`;
