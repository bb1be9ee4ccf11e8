// The instance grid: one cell per instance, coloured by state, on a canvas (10,000 DOM nodes
// would make the page crawl). States are kept in a byte array; a change repaints one cell.
import { instanceStates, stateColours } from './api.js';

const code = Object.fromEntries(instanceStates.map((s, i) => [s, i]));

export class InstanceGrid {
  constructor(canvas, tip, count, onPick) {
    this.canvas = canvas;
    this.tip = tip;
    this.count = count;
    this.states = new Uint8Array(count); // all pending until the first listing arrives
    this.selected = -1;
    this.onPick = onPick;
    this.layout();
    canvas.addEventListener('click', (ev) => {
      const i = this.indexAt(ev);
      if (i >= 0) this.onPick(i);
    });
    canvas.addEventListener('mousemove', (ev) => {
      const i = this.indexAt(ev);
      if (i < 0) {
        tip.hidden = true;
        return;
      }
      tip.hidden = false;
      tip.textContent = `dev-${String(i).padStart(4, '0')}: ${instanceStates[this.states[i]].replace('_', ' ')}`;
      tip.style.left = `${ev.offsetX + 12}px`;
      tip.style.top = `${ev.offsetY + 12}px`;
    });
    canvas.addEventListener('mouseleave', () => {
      tip.hidden = true;
    });
    this.resize = () => {
      this.layout();
      this.drawAll();
    };
    window.addEventListener('resize', this.resize);
  }

  destroy() {
    window.removeEventListener('resize', this.resize);
  }

  // Cells as large as fit: up to 24 px, down to 3 px at 10,000 instances on a narrow screen.
  layout() {
    const width = Math.max(200, this.canvas.parentElement.clientWidth);
    const maxHeight = 520;
    let size = Math.floor(Math.sqrt((width * maxHeight) / this.count));
    size = Math.max(3, Math.min(24, size));
    this.size = size;
    this.gap = size >= 6 ? 1 : 0;
    this.cols = Math.max(1, Math.floor(width / size));
    this.rows = Math.ceil(this.count / this.cols);
    const dpr = window.devicePixelRatio || 1;
    this.canvas.style.height = `${this.rows * size}px`;
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(this.rows * size * dpr);
    this.ctx = this.canvas.getContext('2d');
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  indexAt(ev) {
    const col = Math.floor(ev.offsetX / this.size);
    const row = Math.floor(ev.offsetY / this.size);
    if (col >= this.cols) return -1;
    const i = row * this.cols + col;
    return i >= 0 && i < this.count ? i : -1;
  }

  cell(i) {
    const x = (i % this.cols) * this.size;
    const y = Math.floor(i / this.cols) * this.size;
    const ctx = this.ctx;
    ctx.clearRect(x, y, this.size, this.size);
    ctx.fillStyle = stateColours[instanceStates[this.states[i]]];
    ctx.fillRect(x, y, this.size - this.gap, this.size - this.gap);
    if (i === this.selected) {
      ctx.strokeStyle = '#000';
      ctx.lineWidth = Math.min(2, this.size / 4);
      ctx.strokeRect(x + 0.5, y + 0.5, this.size - this.gap - 1, this.size - this.gap - 1);
    }
  }

  drawAll() {
    const t0 = performance.now();
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    // Cells of one state are filled together: 9 fillStyle changes, not 10,000.
    for (let s = 0; s < instanceStates.length; ++s) {
      this.ctx.fillStyle = stateColours[instanceStates[s]];
      for (let i = 0; i < this.count; ++i) {
        if (this.states[i] !== s) continue;
        this.ctx.fillRect((i % this.cols) * this.size, Math.floor(i / this.cols) * this.size,
          this.size - this.gap, this.size - this.gap);
      }
    }
    if (this.selected >= 0) this.cell(this.selected);
    // Visible in the browser's performance tools, and read by bench/web.
    performance.measure('kuiga-grid-draw', { start: t0, end: performance.now() });
  }

  set(i, state) {
    if (i < 0 || i >= this.count || !(state in code)) return;
    if (this.states[i] === code[state]) return;
    this.states[i] = code[state];
    this.cell(i);
  }

  // Many states at once (a listing): stored, then one full repaint.
  load(items) {
    for (const { index, state } of items)
      if (index >= 0 && index < this.count && state in code) this.states[index] = code[state];
    this.drawAll();
  }

  select(i) {
    const old = this.selected;
    this.selected = i;
    if (old >= 0) this.cell(old);
    if (i >= 0) this.cell(i);
  }

  state(i) {
    return instanceStates[this.states[i]];
  }
}
