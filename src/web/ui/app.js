// Kuiga Web's entry point: a hash router over three pages, one live event stream.
import { clearError, connectEvents } from './api.js';
import { runsPage } from './runs.js';
import { runPage } from './run.js';
import { workersPage } from './workers.js';

let leave = null;

function route() {
  const page = document.getElementById('page');
  if (leave) leave();
  leave = null;
  page.replaceChildren();
  const hash = location.hash || '#/';
  let m;
  let nav = 'runs';
  if ((m = hash.match(/^#\/runs\/(\d+)$/))) {
    leave = runPage(page, Number(m[1]));
  } else if (hash === '#/workers') {
    nav = 'workers';
    leave = workersPage(page);
  } else {
    leave = runsPage(page);
  }
  for (const a of document.querySelectorAll('header nav a[data-nav]'))
    a.classList.toggle('active', a.dataset.nav === nav);
}

document.getElementById('error-close').addEventListener('click', clearError);
window.addEventListener('hashchange', () => {
  clearError();
  route();
});
connectEvents();
route();
