// Charts from npm's Chart.js (with the boxplot plugin), bundled into app.js at build time.
import {
  CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip,
} from 'chart.js';
import { BoxAndWiskers, BoxPlotController } from '@sgratzl/chartjs-chart-boxplot';

Chart.register(BoxPlotController, BoxAndWiskers, CategoryScale, LinearScale, LineController,
  LineElement, PointElement, Legend, Tooltip);

// The report's Figure 5.1: a box from the first to the third quartile with the median, and
// whiskers at the minimum and the maximum. `boxes` is [{label, min, p25, p50, p75, max, mean}].
export function jitterBoxPlot(canvas, boxes) {
  return new Chart(canvas, {
    type: 'boxplot',
    data: {
      labels: boxes.map((b) => b.label),
      datasets: [{
        label: 'deadline jitter (ms)',
        backgroundColor: 'rgba(21,101,192,0.25)',
        borderColor: '#1565c0',
        borderWidth: 1,
        outlierRadius: 0,
        itemRadius: 0,
        data: boxes.map((b) => ({
          min: b.min, q1: b.p25, median: b.p50, q3: b.p75, max: b.max, mean: b.mean,
        })),
      }],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { y: { title: { display: true, text: 'jitter (ms)' }, beginAtZero: true } },
    },
  });
}

const radioSeries = [
  ['sent_frames', 'sent by devices', '#1565c0'],
  ['delivered_frames', 'delivered to devices', '#2e7d32'],
  ['uplink_frames', 'to base station (UE)', '#6a1b9a'],
  ['downlink_frames', 'from base station', '#00838f'],
  ['dropped.loss', 'dropped: loss', '#e53935'],
  ['dropped.active_cap', 'dropped: active cap', '#f4511e'],
  ['dropped.medium_queue', 'dropped: medium queue', '#fb8c00'],
  ['dropped.no_ue', 'dropped: no UE', '#c0ca33'],
  ['dropped.ue_queue_full', 'dropped: UE queue full', '#8d6e63'],
  ['dropped.no_lease', 'dropped: no lease', '#757575'],
  ['missed_frames', 'missed by capture', '#000000'],
  ['zep.sent', 'ZEP: on the air', '#283593'],
  ['zep.received', 'ZEP: copies delivered', '#558b2f'],
  ['zep.acks', 'ZEP: acknowledged', '#1565c0'],
  ['zep.retransmissions', 'ZEP: retransmitted', '#c62828'],
  ['zep.lost_on_links', 'ZEP: lost on links', '#ad1457'],
  ['zep.dropped_channel', 'ZEP: channel busy', '#ef6c00'],
  ['zep.malformed', 'ZEP: not ZEP v2 data', '#4e342e'],
  ['zep.hellos', 'ZEP: hellos', '#78909c'],
];

export function radioValue(r, key) {
  return key.split('.').reduce((o, k) => (o ? o[k] : undefined), r) || 0;
}

// Radio counters over time: one point per poll, the last 300 kept.
export class RadioChart {
  constructor(canvas) {
    this.chart = new Chart(canvas, {
      type: 'line',
      data: {
        labels: [],
        datasets: radioSeries.map(([, label, colour]) => ({
          label, data: [], borderColor: colour, backgroundColor: colour, pointRadius: 0,
          borderWidth: 1.5, tension: 0,
        })),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: 'index', intersect: false },
        scales: { y: { beginAtZero: true, title: { display: true, text: 'frames (total)' } } },
        plugins: { legend: { position: 'right', labels: { boxWidth: 10 } } },
      },
    });
  }

  add(r) {
    const d = this.chart.data;
    d.labels.push(new Date().toLocaleTimeString());
    radioSeries.forEach(([key], k) => d.datasets[k].data.push(radioValue(r, key)));
    if (d.labels.length > 300) {
      d.labels.shift();
      for (const ds of d.datasets) ds.data.shift();
    }
    this.chart.update('none');
  }

  destroy() {
    this.chart.destroy();
  }
}

export { radioSeries };

// Lines over a common x axis: `series` is [{label, colour, data}] (numbers, one per label).
export function lineChart(canvas, labels, series, yTitle, xTitle) {
  return new Chart(canvas, {
    type: 'line',
    data: {
      labels,
      datasets: series.map((s) => ({
        label: s.label, data: s.data, borderColor: s.colour, backgroundColor: s.colour,
        pointRadius: labels.length > 40 ? 0 : 2, borderWidth: 1.5, tension: 0,
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: { title: { display: !!xTitle, text: xTitle } },
        y: { beginAtZero: true, title: { display: !!yTitle, text: yTitle } },
      },
      plugins: { legend: { display: series.length > 1, position: 'right', labels: { boxWidth: 10 } } },
    },
  });
}
