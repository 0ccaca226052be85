// The operators' dashboard. One WebSocket pushes the queue's changes; the page keeps the state and redraws
// the panel a change touches. It reconnects by itself and says when it is offline. The softphone is its own
// module (softphone.js), started after the login.

import { setSoftphoneLanguage, startSoftphone, stopSoftphone } from "./softphone.js";

const TEXT = {
  ru: {
    title: "Горячая линия", offline: "нет связи", online: "на связи", logout: "Выйти", login: "Вход",
    username: "Имя пользователя", password: "Пароль", signin: "Войти", hotline: "Очередь", waiting: "Ожидают ответа",
    pos: "№", caller: "Звонящий", waited: "Ждёт", estimate: "Ещё примерно", operators: "Операторы",
    operator: "Оператор", state: "Состояние", taken: "Принято", me: "Я", queue_in: "Встать в очередь",
    queue_out: "Выйти из очереди", reason: "Причина паузы", break: "Перерыв", lunch: "Обед", training: "Обучение",
    paperwork: "Работа с документами", pause: "Пауза", resume: "Продолжить", current_call: "Текущий звонок",
    no_call: "Нет звонка.", case_search: "Поиск дела (номер или телефон)", find: "Найти",
    callbacks: "Обратные звонки", new_callback: "Новый обратный звонок на номер", add: "Добавить",
    phone: "Телефон", status: "Статус", due: "Когда", attempts: "Попыток", actions: "Действия",
    call_now: "Позвонить сейчас", cancel: "Отменить", reschedule: "Перенести", bad_login: "Неверное имя или пароль",
    free: "свободен", talking: "разговаривает", ringing: "звонит телефон", paused: "пауза", unavailable: "недоступен",
    not_in_queue: "Вы не в очереди.", in_queue: "Вы в очереди", offered: "Поступило", answered: "Отвечено",
    abandoned: "Брошено", service_level: "Уровень сервиса", asa: "Ср. время ответа", longest: "Дольше всех ждёт",
    callers_waiting: "Ждут", caller_connected: "Соединён абонент", not_verified: "не проверено",
    cases_by_phone: "Дела по номеру (не проверено: номер мог быть подменён)", no_cases: "Дел по номеру нет.",
    nothing_found: "Ничего не найдено.", history: "История", callback_for: "Обратный звонок",
    scheduled: "запланирован", queued: "ждёт в очереди", dialling: "набор", connected: "разговор", done: "выполнен",
    failed: "не удался", expired: "истёк", cancelled: "отменён", s: "с", min: "мин",
    video: "Видео", available: "Готов принимать", session: "Сеанс", kind: "Вид", sign: "с переводчиком",
    consultation: "с оператором", waiting_interpreter: "ждёт переводчика", with_interpreter: "с переводчиком",
    waiting_operator: "ждёт оператора", with_operator: "с оператором", ended: "завершён", accept: "Принять",
    decline: "Отказаться", join: "Подключиться", open_video: "Открыть видео", end: "Завершить",
    offer_for_you: "Вам предложен видеосеанс", assigned_to_you: "Очередь передала вам видеосеанс",
    you_are: "Вы", video_none: "Видеосеансов нет.", today: "Сегодня по часам", printable: "Отчёт для печати",
    hour: "Час", logged_in: "На линии", needed: "Нужно (Эрланг C)", callback_outcomes: "Обратные звонки: итоги",
    requested: "заказано", first_attempt: "с первой попытки", later_attempt: "с повторной",
    carried_over: "перенесено", pending: "в работе", wrapups: "Итоги звонков операторов", when: "Когда",
    disposition: "Итог", note: "Заметка", no_wrapups: "Итогов за сутки нет.",
  },
  en: {
    title: "Hotline", offline: "offline", online: "online", logout: "Log out", login: "Log in",
    username: "User name", password: "Password", signin: "Log in", hotline: "Queue", waiting: "Waiting",
    pos: "#", caller: "Caller", waited: "Waited", estimate: "Estimated wait", operators: "Operators",
    operator: "Operator", state: "State", taken: "Calls", me: "Me", queue_in: "Join the queue",
    queue_out: "Leave the queue", reason: "Pause reason", break: "Break", lunch: "Lunch", training: "Training",
    paperwork: "Paperwork", pause: "Pause", resume: "Resume", current_call: "Current call", no_call: "No call.",
    case_search: "Find a case (number or phone)", find: "Find", callbacks: "Callbacks",
    new_callback: "New callback to number", add: "Add", phone: "Phone", status: "Status", due: "Due",
    attempts: "Attempts", actions: "Actions", call_now: "Call now", cancel: "Cancel", reschedule: "Reschedule",
    bad_login: "Wrong user name or password", free: "free", talking: "talking", ringing: "ringing", paused: "paused",
    unavailable: "unavailable", not_in_queue: "You are not in the queue.", in_queue: "You are in the queue",
    offered: "Offered", answered: "Answered", abandoned: "Abandoned", service_level: "Service level",
    asa: "Avg. speed of answer", longest: "Longest wait", callers_waiting: "Waiting",
    caller_connected: "Connected caller", not_verified: "not verified",
    cases_by_phone: "Cases by number (not verified: caller ID can be forged)", no_cases: "No cases for this number.",
    nothing_found: "Nothing found.", history: "History", callback_for: "Callback", scheduled: "scheduled",
    queued: "waiting in the queue", dialling: "dialling", connected: "talking", done: "done", failed: "failed",
    expired: "expired", cancelled: "cancelled", s: "s", min: "min",
    video: "Video", available: "Available", session: "Session", kind: "Kind", sign: "with interpreter",
    consultation: "with operator", waiting_interpreter: "waiting for an interpreter",
    with_interpreter: "with interpreter", waiting_operator: "waiting for an operator",
    with_operator: "with operator", ended: "ended", accept: "Accept", decline: "Decline", join: "Join",
    open_video: "Open video", end: "End", offer_for_you: "A video session is offered to you",
    assigned_to_you: "The queue gave you a video session", you_are: "You are", video_none: "No video sessions.",
    today: "Today by hour", printable: "Printable report", hour: "Hour", logged_in: "Logged in",
    needed: "Needed (Erlang C)", callback_outcomes: "Callbacks: outcomes", requested: "requested",
    first_attempt: "at the first attempt", later_attempt: "at a later attempt", carried_over: "carried over",
    pending: "in progress", wrapups: "Operators' call wrap-ups", when: "When", disposition: "Disposition",
    note: "Note", no_wrapups: "No wrap-ups in the last day.",
  },
};

const state = { lang: localStorage.getItem("lang") || "ru", me: null, queue: null, clockOffset: 0, socket: null,
                retry: 500, pop: null, wasConnected: false,
                video: { sessions: {}, offers: {}, assigned: {}, interpreters: {}, pushes: 0, answers: 0 } };
const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[state.lang][key] ?? key;
const esc = (value) => String(value ?? "").replace(/[&<>"']/g,
  (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

function translate() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  $("lang").textContent = state.lang === "ru" ? "EN" : "RU";
  setLink(state.socket && state.socket.readyState === WebSocket.OPEN);
  render();
  renderToday();
  renderVideo();
  renderWrapups();
  setSoftphoneLanguage(state.lang);
}

function setLink(online) {
  $("link").className = `badge ${online ? "online" : "offline"}`;
  $("link").textContent = t(online ? "online" : "offline");
}

async function api(method, path, body, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (state.me && method !== "GET") headers["X-CSRF-Token"] = state.me.csrf_token;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                       ...options });
  const data = response.headers.get("Content-Type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw Object.assign(new Error(data?.detail ? JSON.stringify(data.detail) : response.statusText),
                                        { status: response.status, data });
  return data;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  seconds = Math.max(0, Math.round(seconds));
  return seconds < 120 ? `${seconds} ${t("s")}` : `${Math.round(seconds / 60)} ${t("min")}`;
}

const pbxNow = () => Date.now() / 1000 + state.clockOffset;

// -- rendering ---------------------------------------------------------------------------------------------

function render() {
  if (!state.queue) return;
  const q = state.queue;
  const f = q.figures || {};
  const c = q.counters || {};
  const sl = f.service_level === null || f.service_level === undefined ? "—" : `${Math.round(100 * f.service_level)} %`;
  const longest = q.waiting.length ? Math.max(...q.waiting.map((w) => pbxNow() - w.joined_at)) : 0;
  $("figures").innerHTML = [
    ["callers_waiting", q.waiting.length], ["longest", duration(longest)], ["estimate", duration(f.new_caller_estimate_seconds)],
    ["service_level", sl], ["answered", c.answered ?? 0], ["abandoned", c.abandoned ?? 0], ["offered", c.offered ?? 0],
    ["asa", duration(f.average_speed_of_answer_seconds)],
  ].map(([key, value]) => `<div><dt>${esc(t(key))}</dt><dd data-figure="${key}">${esc(value)}</dd></div>`).join("");
  $("waiting").innerHTML = q.waiting.map((w) => `<tr data-uniqueid="${esc(w.uniqueid)}">
      <td>${esc(w.position)}</td>
      <td>${w.kind === "callback" ? `${esc(t("callback_for"))}: ` : ""}${esc(w.callerid)} ${esc(w.kind === "callback" ? "" : w.callername)}</td>
      <td>${esc(duration(pbxNow() - w.joined_at))}</td><td>${esc(duration(w.estimated_wait_seconds))}</td></tr>`).join("");
  $("members").innerHTML = Object.values(q.membersByInterface).map((m) => `<tr data-interface="${esc(m.interface)}">
      <td>${esc(m.name)} <small>${esc(m.interface)}</small></td>
      <td class="state-${esc(m.state)}">${esc(t(m.state))}${m.paused_reason ? `: ${esc(m.paused_reason)}` : ""}</td>
      <td>${esc(m.calls_taken)}</td></tr>`).join("");
  const mine = state.me && q.membersByInterface[state.me.interface];
  $("my-state").textContent = mine ? `${t("in_queue")}: ${t(mine.state)}${mine.paused_reason ? ` (${mine.paused_reason})` : ""}`
                                   : t("not_in_queue");
  renderPop();
}

function renderPop() {
  const pop = state.pop;
  if (!pop) return;
  const cases = pop.cases.length
    ? `<ul>${pop.cases.map((c) => `<li><button type="button" class="secondary" data-case="${esc(c.number)}">${esc(c.number)}</button>
        ${esc(c.kind)} — ${esc(c.status_text || c.status)} <span class="unverified">(${esc(t("not_verified"))})</span></li>`).join("")}</ul>`
    : `<p>${esc(t("no_cases"))}</p>`;
  $("screen-pop").innerHTML = `<div class="pop"><p><strong>${esc(t("caller_connected"))}:</strong>
      <span id="pop-callerid">${esc(pop.callerid)}</span></p><p>${esc(t("cases_by_phone"))}</p>${cases}</div>`;
  $("callback-phone").value = pop.callerid;
}

async function showCase(number) {
  try {
    const c = await api("GET", `/api/cases/${encodeURIComponent(number)}`);
    $("case-view").innerHTML = `<h3>${esc(c.number)} — ${esc(c.kind)}</h3>
      <p>${esc(c.applicant_name)}, ${esc(c.birth_date)}</p><p><strong>${esc(c.status_text)}</strong> (${esc(c.status_date)})</p>
      <p>${esc(c.next_step)}</p><h4>${esc(t("history"))}</h4>
      <ul>${c.history.map((h) => `<li>${esc(h.date)} ${esc(h.code)} ${esc(h.note || "")}</li>`).join("")}</ul>`;
  } catch {
    $("case-view").textContent = t("nothing_found");
  }
}

async function loadCallbacks() {
  try {
    const list = await api("GET", "/api/callbacks?status=scheduled,queued,dialling,connected,failed&limit=50");
    $("callbacks").innerHTML = list.map((cb) => `<tr data-callback="${esc(cb.id)}">
        <td>${esc(cb.phone)}</td><td>${esc(t(cb.status))}${cb.reason ? `: ${esc(cb.reason)}` : ""}</td>
        <td>${esc(new Date(cb.due_at * 1000).toLocaleString(state.lang === "ru" ? "ru-RU" : "en-GB",
                                                          { timeZone: state.me.timezone }))}</td>
        <td>${esc(cb.attempts)}</td>
        <td>${["scheduled", "queued"].includes(cb.status) ? `<button type="button" data-call-now="${esc(cb.id)}">${esc(t("call_now"))}</button>
            <button type="button" class="secondary" data-withdraw="${esc(cb.id)}">${esc(t("cancel"))}</button>` : ""}</td></tr>`).join("");
  } catch (error) {
    $("callback-error").textContent = error.message;
  }
}

// -- video sessions ----------------------------------------------------------------------------------------

// A push that arrives while the list is on its way is newer than the list: an answer overtaken by a push is
// dropped and asked again, or it would wipe out an offer made meanwhile.
async function loadVideo() {
  for (let attempt = 0; attempt < 3; attempt++) {
    const pushesBefore = state.video.pushes;
    let data;
    try {
      data = await api("GET", "/api/video/sessions");
    } catch (error) {
      $("video-error").textContent = error.message;
      return;
    } finally {
      $("video-card").dataset.answers = String(++state.video.answers);  // lets a test know an answer was handled
    }
    if (state.video.pushes !== pushesBefore) continue;
    state.video.sessions = Object.fromEntries(data.sessions.map((s) => [s.id, s]));
    state.video.offers = Object.fromEntries(data.offers.filter((o) => o.for_user === state.me.username).map((o) => [o.session, o]));
    state.video.interpreters = Object.fromEntries(data.interpreters.map((p) => [p.username, p]));
    renderVideo();
    return;
  }
}

function renderVideo() {
  if (!state.me) return;
  const me = state.me;
  const mine = state.video.interpreters[me.username];
  $("interpreter-controls").hidden = me.role !== "interpreter";
  $("interpreter-status").textContent = mine ? `${t("you_are")}: ${t(mine.status)}${mine.reason ? ` (${mine.reason})` : ""}` : "";
  const now = Date.now() / 1000 + state.clockOffset;
  $("video-offers").innerHTML = Object.values(state.video.offers).filter((o) => o.for_user === me.username)
    .map((o) => `<p>${esc(t("offer_for_you"))}: ${esc(o.session)}
      <button type="button" data-video-accept="${esc(o.session)}">${esc(t("accept"))}</button>
      <button type="button" class="secondary" data-video-decline="${esc(o.session)}">${esc(t("decline"))}</button></p>`).join("")
    + Object.values(state.video.assigned).filter((a) => a.for_user === me.username && state.video.sessions[a.session]
        && !state.video.sessions[a.session].operator)
    .map((a) => `<p>${esc(t("assigned_to_you"))}: ${esc(a.session)}
      <button type="button" data-video-join="${esc(a.session)}">${esc(t("join"))}</button></p>`).join("");
  const sessions = Object.values(state.video.sessions).sort((a, b) => a.created_at - b.created_at);
  $("video-sessions").innerHTML = sessions.length ? sessions.map((s) => {
    const involved = s.interpreter === me.username || s.operator === me.username;
    const canJoin = ["operator", "supervisor"].includes(me.role) && !s.operator
      && ["with_interpreter", "waiting_operator"].includes(s.state);
    return `<tr data-video="${esc(s.id)}"><td>${esc(s.id)}</td><td>${esc(t(s.mode === "sign" ? "sign" : "consultation"))}</td>
      <td>${esc(t(s.state))}</td><td>${esc(duration(now - s.created_at))}</td><td>
      ${canJoin ? `<button type="button" data-video-join="${esc(s.id)}">${esc(t("join"))}</button>` : ""}
      ${involved ? `<a href="/video?session=${encodeURIComponent(s.id)}" target="_blank" rel="noopener">${esc(t("open_video"))}</a>` : ""}
      ${involved || me.role === "supervisor" ? `<button type="button" class="secondary" data-video-end="${esc(s.id)}">${esc(t("end"))}</button>` : ""}
      </td></tr>`;
  }).join("") : `<tr><td colspan="5">${esc(t("video_none"))}</td></tr>`;
}

// -- supervisor: today's figures -----------------------------------------------------------------------------

async function loadToday() {
  if (state.me?.role !== "supervisor") return;
  try {
    const report = await api("GET", "/api/reports/day");
    state.report = report;
    $("report-link").href = `/reports/day?date=${encodeURIComponent(report.date)}`;
    renderToday();
  } catch (error) { $("callback-outcomes").textContent = error.message; }
}

async function loadWrapups() {
  if (state.me?.role !== "supervisor") return;
  try {
    state.wrapups = await api("GET", "/api/softphone/wrapups?hours=24&limit=50");
    renderWrapups();
  } catch (error) { $("wrapups-error").textContent = error.message; }
}

function renderWrapups() {
  if (!state.wrapups) return;
  const when = (ts) => new Date(ts * 1000).toLocaleTimeString(state.lang === "ru" ? "ru-RU" : "en-GB",
                                                               { timeZone: state.me.timezone });
  $("wrapups").innerHTML = state.wrapups.length ? state.wrapups.map((w) => `<tr data-wrapup="${esc(w.id)}">
    <td>${esc(when(w.saved_at))}</td><td>${esc(w.username)}</td><td>${esc(w.caller)} ${esc(w.caller_name)}</td>
    <td>${esc(w.disposition)}</td><td>${esc(w.note)}</td></tr>`).join("")
    : `<tr><td colspan="5">${esc(t("no_wrapups"))}</td></tr>`;
}

function renderToday() {
  const report = state.report;
  if (!report) return;
  const pct = (v) => (v == null ? "—" : `${Math.round(v * 100)} %`);
  $("hourly").innerHTML = report.by_hour.map((h) => `<tr><td>${String(h.hour).padStart(2, "0")}:00</td>
    <td>${h.offered}</td><td>${h.answered}</td><td>${h.abandoned}</td><td>${pct(h.service_level)}</td>
    <td>${h.average_speed_of_answer == null ? "—" : esc(duration(h.average_speed_of_answer))}</td>
    <td>${h.operators_logged_in ?? "—"}</td><td>${h.operators_needed}</td></tr>`).join("");
  const cb = report.callbacks;
  const failed = Object.entries(cb.failed_by_reason).map(([k, v]) => `${k}: ${v}`).join(", ");
  $("callback-outcomes").textContent = `${t("requested")} ${cb.requested}; ${t("done")} ${t("first_attempt")} `
    + `${cb.completed_first_attempt}, ${t("later_attempt")} ${cb.completed_later_attempt}; ${t("failed")} ${cb.failed}`
    + `${failed ? ` (${failed})` : ""}; ${t("carried_over")} ${cb.carried_over}; ${t("pending")} ${cb.pending}`;
}

// -- live updates ------------------------------------------------------------------------------------------

function takeSnapshot(message) {
  const q = message.queue;
  q.membersByInterface = Object.fromEntries(q.members.map((m) => [m.interface, m]));
  state.queue = q;
  state.clockOffset = message.now - Date.now() / 1000;
  render();
}

function apply(change) {
  const q = state.queue;
  if (change.type === "snapshot") return takeSnapshot(change);
  if (change.type.startsWith("video_")) state.video.pushes += 1;
  if (!q) return;
  switch (change.type) {
    case "caller_joined":
      q.waiting = q.waiting.filter((w) => w.uniqueid !== change.caller.uniqueid);
      q.waiting.splice(change.caller.position - 1, 0, { ...change.caller, estimated_wait_seconds: null });
      q.waiting.forEach((w, i) => { w.position = i + 1; });
      break;
    case "caller_left":
      q.waiting = q.waiting.filter((w) => w.uniqueid !== change.uniqueid);
      q.waiting.forEach((w, i) => { w.position = i + 1; });
      break;
    case "member":
      q.membersByInterface[change.member.interface] = change.member;
      break;
    case "member_removed":
      delete q.membersByInterface[change.interface];
      break;
    case "counters":
      q.counters = change.counters;
      break;
    case "screen_pop":
      if (!state.me || change.interface === state.me.interface || state.me.role === "supervisor") state.pop = change;
      break;
    case "callback_connected":
      loadCallbacks();
      break;
    case "video_session":
      if (change.session.state === "ended") delete state.video.sessions[change.session.id];
      else state.video.sessions[change.session.id] = change.session;
      delete state.video.offers[change.session.id];
      return renderVideo();
    case "video_offer":
      state.video.offers[change.session] = change;
      return renderVideo();
    case "video_offer_expired":
      delete state.video.offers[change.session];
      return renderVideo();
    case "video_assigned":
      state.video.assigned[change.session] = change;
      return renderVideo();
    case "video_interpreter":
      state.video.interpreters[change.username] = change;
      return renderVideo();
    default:
      return;
  }
  render();
}

function connect() {
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/queue/stream`);
  state.socket = socket;
  socket.onopen = () => {
    state.retry = 500;
    setLink(true);
    if (state.wasConnected) { loadCallbacks(); loadVideo(); }  // pushes sent while the link was down are lost
    state.wasConnected = true;
  };
  socket.onmessage = (event) => apply(JSON.parse(event.data));
  socket.onclose = () => {
    setLink(false);
    if (state.me) setTimeout(connect, state.retry);
    state.retry = Math.min(state.retry * 2, 10000);
  };
}

// -- actions -----------------------------------------------------------------------------------------------

async function start() {
  try {
    state.me = await api("GET", "/api/me");
  } catch {
    $("login-view").hidden = false;
    $("app").hidden = true;
    $("logout").hidden = true;
    $("username").focus();
    return;
  }
  $("login-view").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = `${state.me.name} (${state.me.role})`;
  $("me-card").hidden = !state.me.interface;
  $("supervisor-card").hidden = state.me.role !== "supervisor";
  connect();
  loadCallbacks();
  loadVideo();
  loadToday();
  loadWrapups();
  // Operators always get the phone (or are told why not); a supervisor only when they have an extension.
  if (state.me.role === "operator" || (state.me.role === "supervisor" && state.me.extension)) {
    startSoftphone({ api, lang: state.lang, hooks: {
      showCase,
      member: () => (state.me?.interface && state.queue?.membersByInterface[state.me.interface]) || null,
      onCaller: (pop) => { state.pop = { ...pop, interface: state.me.interface }; renderPop(); },
    } }).catch((error) => { $("sp-message").textContent = error.message; });
  }
}

async function meAction(path, body) {
  $("me-error").textContent = "";
  try { await api("POST", path, body); } catch (error) { $("me-error").textContent = error.message; }
}

// Where a page that needed a login sent the browser from (/?next=/reports/day...): a path on this site only.
function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "";
  if (!next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return null;
  const url = new URL(next, location.origin);
  return url.origin === location.origin ? url.pathname + url.search + url.hash : null;
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("POST", "/api/login", { username: $("username").value, password: $("password").value });
    $("login-error").textContent = "";
    const next = nextPage();
    if (next) { location.assign(next); return; }
    await start();
  } catch {
    $("login-error").textContent = t("bad_login");
  }
});
$("logout").addEventListener("click", async () => {
  await stopSoftphone();
  await api("POST", "/api/logout").catch(() => {});
  state.me = null;
  state.socket?.close();
  await start();
});
$("lang").addEventListener("click", () => {
  state.lang = state.lang === "ru" ? "en" : "ru";
  localStorage.setItem("lang", state.lang);
  translate();
});
$("queue-in").addEventListener("click", () => meAction("/api/me/queue", { in: true }));
$("queue-out").addEventListener("click", () => meAction("/api/me/queue", { in: false }));
$("pause").addEventListener("click", () => meAction("/api/me/pause", { paused: true, reason: $("pause-reason").value }));
$("resume").addEventListener("click", () => meAction("/api/me/pause", { paused: false }));
$("case-search").addEventListener("submit", async (event) => {
  event.preventDefault();
  const query = $("case-query").value.trim();
  const byNumber = /^[0-9]{6,12}$/.test(query);
  try {
    const found = await api("GET", `/api/cases?${byNumber ? "number" : "phone"}=${encodeURIComponent(query)}`);
    if (!found.length) { $("case-view").textContent = t("nothing_found"); return; }
    await showCase(found[0].number);
  } catch { $("case-view").textContent = t("nothing_found"); }
});
$("screen-pop").addEventListener("click", (event) => {
  const number = event.target.closest("[data-case]")?.dataset.case;
  if (number) showCase(number);
});
$("new-callback").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("callback-error").textContent = "";
  try { await api("POST", "/api/operator/callbacks", { phone: $("callback-phone").value }); }
  catch (error) { $("callback-error").textContent = error.message; }
  loadCallbacks();
});
$("callbacks").addEventListener("click", async (event) => {
  const callNow = event.target.closest("[data-call-now]")?.dataset.callNow;
  const withdraw = event.target.closest("[data-withdraw]")?.dataset.withdraw;
  $("callback-error").textContent = "";
  try {
    if (callNow) await api("POST", `/api/callbacks/${encodeURIComponent(callNow)}/call-now`);
    if (withdraw) await api("POST", `/api/callbacks/${encodeURIComponent(withdraw)}/withdraw`, {});
  } catch (error) { $("callback-error").textContent = error.message; }
  loadCallbacks();
});

$("interpreter-available").addEventListener("click", () => videoAction("/api/video/interpreter/status", { status: "available" }));
$("interpreter-pause").addEventListener("click", () => videoAction("/api/video/interpreter/status",
  { status: "paused", reason: $("pause-reason").value || "break" }));
$("video-card").addEventListener("click", async (event) => {
  const target = event.target.closest("button");
  if (!target) return;
  const { videoAccept, videoDecline, videoJoin, videoEnd } = target.dataset;
  if (videoAccept) await videoAction(`/api/video/sessions/${encodeURIComponent(videoAccept)}/accept`, {}, videoAccept);
  if (videoDecline) await videoAction(`/api/video/sessions/${encodeURIComponent(videoDecline)}/decline`, {});
  if (videoJoin) await videoAction(`/api/video/sessions/${encodeURIComponent(videoJoin)}/join`, {}, videoJoin);
  if (videoEnd) await videoAction(`/api/video/sessions/${encodeURIComponent(videoEnd)}/end`, {});
});

async function videoAction(path, body, openSession) {
  $("video-error").textContent = "";
  try {
    const result = await api("POST", path, body);
    if (result.username) state.video.interpreters[result.username] = result;
    if (openSession) window.open(`/video?session=${encodeURIComponent(openSession)}`, "_blank", "noopener");
  } catch (error) { $("video-error").textContent = error.message; }
  await loadVideo();
}

// Waits tick on the page; estimates come with a fresh snapshot now and then (not every second).
setInterval(render, 1000);
setInterval(() => { if (state.socket?.readyState === WebSocket.OPEN) state.socket.send("snapshot"); }, 15000);
setInterval(() => { if (state.me) { loadCallbacks(); loadVideo(); } }, 10000);
setInterval(() => { if (state.me) { loadToday(); loadWrapups(); } }, 30000);
translate();
start();
