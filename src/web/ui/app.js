// Kuiga Web's entry point: a hash router over four pages, one live event stream, and the
// login page whenever there is no session.
import {
  clearError, connectEvents, currentSession, disconnectEvents, el, guarded, logOut, session,
  whenLoginNeeded,
} from './api.js';
import { loginPage } from './login.js';
import { runsPage } from './runs.js';
import { runPage } from './run.js';
import { testsPage } from './tests.js';
import { workersPage } from './workers.js';

let leave = null;
let loggedIn = false;

function show(pageFn) {
  const page = document.getElementById('page');
  if (leave) leave();
  leave = null;
  page.replaceChildren();
  leave = pageFn(page);
}

function route() {
  if (!loggedIn) return;
  const hash = location.hash || '#/';
  let m;
  let nav = 'runs';
  if ((m = hash.match(/^#\/runs\/(\d+)$/))) {
    show((p) => runPage(p, Number(m[1])));
  } else if (hash === '#/workers') {
    nav = 'workers';
    show(workersPage);
  } else if (hash === '#/tests') {
    nav = 'tests';
    show(testsPage);
  } else {
    show(runsPage);
  }
  for (const a of document.querySelectorAll('header nav a[data-nav]'))
    a.classList.toggle('active', a.dataset.nav === nav);
}

// Who is logged in, in the header; the metrics link only for whom may read it.
function showUser() {
  const who = document.getElementById('who');
  document.querySelector('header nav').hidden = !loggedIn;
  document.getElementById('metrics-link').hidden = session.role !== 'admin';
  who.replaceChildren();
  if (!loggedIn) return;
  who.append(el('span', { id: 'user' }, `${session.user} (${session.role})`), ' ',
    el('button', {
      id: 'logout', type: 'button',
      onclick: () => guarded(async () => {
        await logOut();
        needLogin();
      }),
    }, 'Log out'));
}

function needLogin() {
  if (!loggedIn && leave) return;  // the login page is up already
  loggedIn = false;
  disconnectEvents();
  showUser();
  show((p) => loginPage(p, start));
}

async function start() {
  loggedIn = Boolean(await guarded(currentSession));
  if (!loggedIn) return needLogin();
  showUser();
  connectEvents();
  route();
}

whenLoginNeeded(needLogin);
document.getElementById('error-close').addEventListener('click', clearError);
window.addEventListener('hashchange', () => {
  clearError();
  route();
});
start();
