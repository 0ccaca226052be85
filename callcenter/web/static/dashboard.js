// The operators' dashboard. One WebSocket pushes the queue's changes; the page keeps the state and redraws
// the panel a change touches. It reconnects by itself and says when it is offline. The softphone is its own
// module (softphone.js), started after the login.

import { clock, errorText, formatDate, formatMoment, formatPhone, reasonText } from "./dashboard-format.js";
import { labelCells, syncRows } from "./dashboard-rows.js";
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
    login_locked: "Слишком много неверных попыток. Повторите через {minutes} мин или попросите супервизора снять блокировку.",
    login_busy: "Сервер занят проверкой входов. Повторите через несколько секунд.",
    free: "свободен", talking: "разговаривает", ringing: "звонит телефон", paused: "пауза", unavailable: "недоступен",
    not_in_queue: "Вы не в очереди.", in_queue: "Вы в очереди", offered: "Поступило", answered: "Отвечено",
    abandoned: "Брошено", service_level: "Уровень сервиса", asa: "Ср. время ответа", longest: "Дольше всех ждёт",
    callers_waiting: "Ждут", caller_connected: "Соединён абонент", not_verified: "не проверено",
    cases_by_phone: "Дела по номеру (не проверено: номер мог быть подменён)", no_cases: "Дел по номеру нет.",
    nothing_found: "Ничего не найдено.", history: "История", callback_for: "Обратный звонок", video_for: "Видеосеанс",
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
    lockouts: "Заблокированные входы", no_lockouts: "Никто не заблокирован.", unlock: "Разблокировать",
    unlocked: "Вход для {user} разблокирован.", no_notes: "Заметок нет.", time: "Время", call_ended: "Звонок завершён", talking_for: "Разговор идёт", lasted: "длился", topic: "Тема",
    outcome: "Итог", details: "Подробнее", hide: "Скрыть", notes: "Заметки", add_note: "Добавить заметку",
    reschedule_to: "Перенести на", confirm_cancel: "Отменить обратный звонок на номер {phone}?",
    calling: "Звоним на {phone}…", cancelled_ok: "Обратный звонок на {phone} отменён.", added: "Добавлено: {phone}.",
    rescheduled: "Перенесено.", noted: "Заметка сохранена.", busy: "в сеансе", going: "идёт", waits: "ждёт",
    offer_deadline: "осталось {s} с", offer_title: "Видеосеанс для вас", no_callbacks: "Обратных звонков нет.",
    erlang_note: "«Нужно» — сколько операторов нужно по Эрлангу C, чтобы выдержать уровень сервиса при таком потоке.",
    hour_pending: "ещё не наступил", already_paused: "Вы уже на паузе.", role_operator: "оператор",
    role_interpreter: "переводчик", role_supervisor: "старший смены",
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
    bad_login: "Wrong user name or password",
    login_locked: "Too many wrong tries. Try again in {minutes} min or ask a supervisor to unlock the account.",
    login_busy: "The server is busy checking logins. Try again in a few seconds.", free: "free", talking: "talking", ringing: "ringing", paused: "paused",
    unavailable: "unavailable", not_in_queue: "You are not in the queue.", in_queue: "You are in the queue",
    offered: "Offered", answered: "Answered", abandoned: "Abandoned", service_level: "Service level",
    asa: "Avg. speed of answer", longest: "Longest wait", callers_waiting: "Waiting",
    caller_connected: "Connected caller", not_verified: "not verified",
    cases_by_phone: "Cases by number (not verified: caller ID can be forged)", no_cases: "No cases for this number.",
    nothing_found: "Nothing found.", history: "History", callback_for: "Callback", video_for: "Video session", scheduled: "scheduled",
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
    lockouts: "Locked logins", no_lockouts: "Nobody is locked out.", unlock: "Unlock",
    unlocked: "{user} may log in again.", no_notes: "No notes.", time: "Time", call_ended: "Call ended", talking_for: "Call in progress", lasted: "lasted", topic: "Topic",
    outcome: "Outcome", details: "Details", hide: "Hide", notes: "Notes", add_note: "Add a note",
    reschedule_to: "Move to", confirm_cancel: "Cancel the callback to {phone}?", calling: "Calling {phone}…",
    cancelled_ok: "The callback to {phone} is cancelled.", added: "Added: {phone}.", rescheduled: "Moved.",
    noted: "Note saved.", busy: "in a session", going: "in progress", waits: "waiting",
    offer_deadline: "{s} s left", offer_title: "A video session for you", no_callbacks: "No callbacks.",
    erlang_note: "\u201cNeeded\u201d: operators Erlang C says this traffic needs to meet the service level.",
    hour_pending: "not yet", already_paused: "You are paused already.", role_operator: "operator",
    role_interpreter: "interpreter", role_supervisor: "supervisor",
  },
};

const state = { lang: localStorage.getItem("lang") || "ru", me: null, queue: null, clockOffset: 0, socket: null,
                retry: 500, pop: null, wasConnected: false, names: {},
                video: { sessions: {}, offers: {}, assigned: {}, interpreters: {}, pushes: 0, answers: 0 } };
const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[state.lang][key] ?? key;
const esc = (value) => String(value ?? "").replace(/[&<>"']/g,
  (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

function translate() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  $("lang").textContent = state.lang === "ru" ? "EN" : "RU";
  // The accessible name starts with the visible text (WCAG 2.5.3), then says what the button does.
  $("lang").setAttribute("aria-label", state.lang === "ru" ? "EN — switch to English" : "RU — переключить на русский");
  setLink(state.socket && state.socket.readyState === WebSocket.OPEN);
  render();
  renderCallbacks();
  renderToday();
  renderVideo();
  renderWrapups();
  renderLockouts();
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

const fill = (key, values) => Object.entries(values).reduce((text, [k, v]) => text.replace(`{${k}}`, v), t(key));
// An element whose text is a running time: the one-second tick rewrites these and nothing else.
// Its text is left to the tick, so a row's HTML stays the same from one render to the next and is not rebuilt.
const since = (epoch) => `<span data-since="${esc(epoch)}"></span>`;
const mine = () => (state.me && state.queue ? state.queue.membersByInterface[state.me.interface] : null);
const myCall = () => (state.me && state.queue ? (state.queue.calls || []).find((c) => c.interface === state.me.interface) : null);

function alertLevel(key, value) {
  const limits = state.me?.thresholds;
  if (!limits || value === null || value === undefined) return "";
  if (key === "service_level") return value < limits.service_level_target ? "alert" : "";
  if (key === "longest") return value > limits.long_wait_seconds ? "alert" : value > limits.service_level_seconds ? "warn" : "";
  if (key === "abandoned_share") return value > limits.abandon_share ? "alert" : "";
  return "";
}

function render() {
  if (!state.queue) return;
  const q = state.queue;
  const f = q.figures || {};
  const c = q.counters || {};
  const longest = q.waiting.length ? Math.max(...q.waiting.map((w) => pbxNow() - w.joined_at)) : 0;
  const settled = (c.answered ?? 0) + (c.abandoned ?? 0);
  const abandonedShare = settled ? (c.abandoned ?? 0) / settled : null;
  const sl = f.service_level;
  const tiles = [
    ["callers_waiting", q.waiting.length, ""], ["longest", duration(longest), alertLevel("longest", longest)],
    ["estimate", duration(f.new_caller_estimate_seconds), ""],
    ["service_level", sl === null || sl === undefined ? "—" : `${Math.round(100 * sl)} %`, alertLevel("service_level", sl)],
    ["answered", c.answered ?? 0, ""], ["abandoned", c.abandoned ?? 0, alertLevel("abandoned_share", abandonedShare)],
    ["offered", c.offered ?? 0, ""], ["asa", duration(f.average_speed_of_answer_seconds), ""],
  ];
  for (const [key, value, level] of tiles) {
    let tile = $("figures").querySelector(`[data-tile="${key}"]`);
    if (!tile) {
      tile = document.createElement("div");
      tile.dataset.tile = key;
      tile.innerHTML = `<dt></dt><dd data-figure="${key}"></dd>`;
      $("figures").append(tile);
    }
    tile.querySelector("dt").textContent = t(key);
    tile.querySelector("dd").textContent = String(value);
    tile.className = level;
  }
  syncRows($("waiting"), q.waiting, (w) => w.uniqueid, (w) => `<td>${esc(w.position)}</td>
      <td>${w.kind === "video" ? `${esc(t("video_for"))}: ${esc(w.callername.replace(/^VIDEO /, ""))}`
        : `${w.kind === "callback" ? `${esc(t("callback_for"))}: ` : ""}<span class="num">${esc(formatPhone(w.callerid))}</span> ${esc(w.kind === "callback" ? "" : w.callername)}`}</td>
      <td class="${pbxNow() - w.joined_at > (state.me?.thresholds?.long_wait_seconds ?? Infinity) ? "alert" : ""}">${since(w.joined_at)}</td>
      <td>${esc(duration(w.estimated_wait_seconds))}</td>`, "", "uniqueid");
  syncRows($("members"), Object.values(q.membersByInterface), (m) => m.interface, (m) => `
      <td>${esc(m.name)} <small>${esc(m.interface)}</small></td>
      <td class="state-${esc(m.state)}">${esc(t(m.state))}${m.paused && m.state !== "paused" ? ` (${esc(t("paused"))})` : ""}${m.paused_reason ? `: ${esc(m.paused_reason)}` : ""}</td>
      <td>${esc(m.calls_taken)}</td>`, "", "interface");
  renderMe();
  renderCall();
  tick();
}

// The operator's own place: what they can do now is all that is offered.
function renderMe() {
  const member = mine();
  const talking = Boolean(myCall()) || member?.state === "talking";
  $("my-state").textContent = member
    ? `${t("in_queue")}: ${t(member.state)}${member.paused && member.state !== "paused" ? `, ${t("paused")}` : ""}${member.paused_reason ? ` (${member.paused_reason})` : ""}`
    : t("not_in_queue");
  $("queue-in").disabled = Boolean(member);
  $("queue-out").disabled = !member;
  $("pause").disabled = !member || Boolean(member.paused);
  $("resume").disabled = !member || !member.paused;
  $("pause-reason").disabled = !member || Boolean(member.paused);
  for (const button of document.querySelectorAll("[data-call-now]")) button.disabled = talking;
}

// The call the operator is on (from the queue's own view, so a reload mid-call shows it), with its screen-pop;
// after it ends, what it was. Rebuilt only when the call changes: the timer ticks by itself.
function renderCall() {
  const call = myCall();
  const pop = state.pop && state.pop.at !== state.popEnded ? state.pop : null;
  const casesOf = (p) => (p.cases.length
    ? `<p>${esc(t("cases_by_phone"))}</p><ul>${p.cases.map((c) => `<li><button type="button" class="secondary" data-case="${esc(c.number)}">${esc(c.number)}</button>
        ${esc(c.kind)} — ${esc(c.status_text || c.status)} <span class="unverified">(${esc(t("not_verified"))})</span></li>`).join("")}</ul>`
    : `<p>${esc(t("no_cases"))}</p>`);
  let key;
  let html;
  if (call || pop) {
    // The queue's view of the call (a reload mid-call still shows it), or the softphone's when the call did not
    // come through the queue; the screen-pop's cases when they are for this caller.
    const callerid = call ? call.callerid : pop.callerid;
    const matches = pop && (!call || pop.callerid === call.callerid);
    if (call) state.lastCall = call;
    key = `call:${call?.uniqueid ?? ""}:${matches ? pop.at : ""}`;
    const timer = call ? ` · <span data-since="${esc(call.answered_at)}">${esc(clock(pbxNow() - call.answered_at))}</span>` : "";
    html = `<div class="pop"><p><strong>${esc(t("talking_for"))}:</strong> <span id="pop-callerid">${esc(formatPhone(callerid))}</span>
      ${esc(call ? state.names[call.uniqueid] || "" : "")}${timer}</p>${matches ? casesOf(pop) : ""}</div>`;
    if (matches && state.popFilled !== pop.at && !$("callback-phone").value) {
      $("callback-phone").value = formatPhone(callerid);  // only into an empty field, once per call
      state.popFilled = pop.at;
    }
  } else if (state.lastCall) {
    const last = state.lastCall;
    key = `ended:${last.uniqueid}`;
    if (!state.callKey?.startsWith(key)) state.lastCallEnded = pbxNow();
    html = `<p>${esc(t("call_ended"))}: ${esc(formatPhone(last.callerid))}, ${esc(t("lasted"))} ${esc(clock((state.lastCallEnded ?? pbxNow()) - last.answered_at))}.</p>`;
  } else {
    key = "none";
    html = `<p>${esc(t("no_call"))}</p>`;
  }
  key += `:${state.lang}`;
  if (state.callKey === key) return;
  state.callKey = key;
  $("screen-pop").innerHTML = html;
}

function tick() {
  for (const node of document.querySelectorAll("[data-since]")) {
    const started = Number(node.dataset.since);
    node.textContent = node.closest("#screen-pop") ? clock(pbxNow() - started) : duration(pbxNow() - started);
  }
  renderOfferCountdowns();
}

async function showCase(number) {
  try {
    const c = await api("GET", `/api/cases/${encodeURIComponent(number)}`);
    const words = (h) => (state.lang === "ru" ? h.text : h.text_en) || h.code;
    $("case-view").innerHTML = `<h3>${esc(c.number)} — ${esc(c.kind)}</h3>
      <p>${esc(c.applicant_name)}, ${esc(formatDate(c.birth_date, state.lang))}</p>
      <p><strong>${esc(state.lang === "ru" ? c.status_text : c.status_text_en || c.status_text)}</strong> (${esc(formatDate(c.status_date, state.lang))})</p>
      <p>${esc(c.next_step)}</p><h4>${esc(t("history"))}</h4>
      <ul>${c.history.map((h) => `<li>${esc(formatDate(h.date, state.lang))}: ${esc(words(h))}${h.note ? ` — ${esc(h.note)}` : ""}</li>`).join("")}</ul>`;
  } catch {
    $("case-view").textContent = t("nothing_found");
  }
}

async function loadCallbacks() {
  if (!["operator", "supervisor"].includes(state.me?.role)) return;
  try {
    state.callbacks = await api("GET", "/api/callbacks?status=scheduled,queued,dialling,connected,failed&limit=50");
    renderCallbacks();
  } catch (error) {
    $("callback-error").textContent = errorText(error, state.lang);
  }
}

function renderCallbacks() {
  if (!state.callbacks) return;
  const talking = Boolean(myCall());
  syncRows($("callbacks"), state.callbacks, (cb) => cb.id, (cb) => `
      <td class="num">${esc(formatPhone(cb.phone))}</td><td>${esc(cb.topic || "")}</td>
      <td>${esc(t(cb.status))}${cb.reason ? `: ${esc(reasonText(cb.reason, state.lang))}` : ""}</td>
      <td>${esc(formatMoment(cb.due_at, state.lang, state.me.timezone))}</td>
      <td>${esc(cb.attempts)}</td>
      <td><button type="button" class="secondary" data-details="${esc(cb.id)}" aria-expanded="${state.openCallback === cb.id}">${esc(t("details"))}</button>
        ${["scheduled", "queued"].includes(cb.status) ? `<button type="button" data-call-now="${esc(cb.id)}" ${talking ? "disabled" : ""}>${esc(t("call_now"))}</button>
        <button type="button" class="secondary" data-withdraw="${esc(cb.id)}">${esc(t("cancel"))}</button>` : ""}</td>`,
    `<tr><td colspan="6">${esc(t("no_callbacks"))}</td></tr>`, "callback");
}

async function showCallback(id) {
  if (state.openCallback === id) {
    state.openCallback = null;
    $("callback-detail").hidden = true;
    renderCallbacks();
    return;
  }
  try {
    const cb = await api("GET", `/api/callbacks/${encodeURIComponent(id)}`);
    state.openCallback = id;
    const when = (epoch) => formatMoment(epoch, state.lang, state.me.timezone);
    $("callback-detail").innerHTML = `<h3>${esc(formatPhone(cb.phone))}${cb.topic ? ` — ${esc(cb.topic)}` : ""}</h3>
      <p>${esc(t(cb.status))}${cb.reason ? `: ${esc(reasonText(cb.reason, state.lang))}` : ""}; ${esc(t("attempts"))}: ${esc(cb.attempts)}</p>
      <h4>${esc(t("history"))}</h4><ul>${(cb.history || []).map((h) => `<li>${esc(when(h.at))}: ${esc(t(h.to || h.status || ""))}
        ${h.note ? ` — ${esc(reasonText(h.note, state.lang) || h.note)}` : ""}</li>`).join("")}</ul>
      <h4>${esc(t("notes"))}</h4>${(cb.notes || []).length ? `<ul>${cb.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>`
        : `<p>${esc(t("no_notes"))}</p>`}
      <form id="callback-note" class="row"><label for="callback-note-text">${esc(t("add_note"))}</label>
        <input id="callback-note-text" maxlength="500" required><button type="submit">${esc(t("add"))}</button></form>
      ${cb.status === "scheduled" ? `<form id="callback-move" class="row"><label for="callback-move-at">${esc(t("reschedule_to"))}</label>
        <input id="callback-move-at" type="datetime-local" required><button type="submit">${esc(t("reschedule"))}</button></form>` : ""}`;
    $("callback-detail").hidden = false;
    $("callback-detail").dataset.callback = id;
    renderCallbacks();
  } catch (error) { say("callback", errorText(error, state.lang), true); }
}

// A short confirmation (or error) read out once, where the operator acted.
function say(where, text, isError = false) {
  $(`${where}-error`).textContent = isError ? text : "";
  $(`${where}-done`).textContent = isError ? "" : text;
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
      $("video-error").textContent = errorText(error, state.lang);
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

const CONNECTED_STATES = ["with_interpreter", "with_operator"];

function renderVideo() {
  if (!state.me) return;
  const me = state.me;
  const own = state.video.interpreters[me.username];
  $("interpreter-controls").hidden = me.role !== "interpreter";
  $("interpreter-status").textContent = own
    ? `${t("you_are")}: ${t(own.status)}${own.reason ? ` (${own.reason})` : ""}` : "";
  $("interpreter-available").disabled = own?.status === "available" || own?.status === "busy";
  $("interpreter-pause").disabled = own?.status === "paused" || own?.status === "busy";
  const offers = Object.values(state.video.offers).filter((o) => o.for_user === me.username);
  const assigned = Object.values(state.video.assigned).filter((a) => a.for_user === me.username
    && state.video.sessions[a.session] && !state.video.sessions[a.session].operator);
  const offersKey = JSON.stringify([offers.map((o) => o.session), assigned.map((a) => a.session), state.lang]);
  if ($("video-offers").dataset.key !== offersKey) {
    $("video-offers").dataset.key = offersKey;
    $("video-offers").innerHTML = offers.map((o) => `<div class="offer" data-session="${esc(o.session)}"><p><strong>${esc(t("offer_for_you"))}</strong>
        (${esc(t(o.mode === "operator" ? "consultation" : "sign"))}) —
        <span data-deadline="${esc(o.deadline)}">${esc(fill("offer_deadline", { s: Math.max(0, Math.round(o.deadline - pbxNow())) }))}</span></p>
        <button type="button" class="answer" data-video-accept="${esc(o.session)}">${esc(t("accept"))}</button>
        <button type="button" class="secondary" data-video-decline="${esc(o.session)}">${esc(t("decline"))}</button></div>`).join("")
      + assigned.map((a) => `<div class="offer" data-session="${esc(a.session)}"><p><strong>${esc(t("assigned_to_you"))}</strong></p>
        <button type="button" class="answer" data-video-join="${esc(a.session)}">${esc(t("join"))}</button></div>`).join("");
    if (offers.length || assigned.length) $("video-offers").querySelector("button")?.focus();
  }
  signalOffers(offers.length + assigned.length);
  const sessions = Object.values(state.video.sessions).sort((x, y) => x.created_at - y.created_at);
  syncRows($("video-sessions"), sessions, (v) => v.id, (v) => {
    const involved = v.interpreter === me.username || v.operator === me.username;
    const canJoin = ["operator", "supervisor"].includes(me.role) && !v.operator
      && ["with_interpreter", "waiting_operator"].includes(v.state);
    const going = CONNECTED_STATES.includes(v.state);
    const started = going ? ([...(v.history || [])].reverse().find((h) => h.state === v.state)?.at ?? v.created_at) : v.created_at;
    return `<td>${esc(v.id)}</td><td>${esc(t(v.mode === "sign" ? "sign" : "consultation"))}</td>
      <td>${esc(t(v.state))}</td><td>${esc(t(going ? "going" : "waits"))} ${since(started)}</td><td>
      ${canJoin ? `<button type="button" data-video-join="${esc(v.id)}">${esc(t("join"))}</button>` : ""}
      ${involved ? `<a href="/video?session=${encodeURIComponent(v.id)}" target="_blank" rel="noopener">${esc(t("open_video"))}</a>` : ""}
      ${involved || me.role === "supervisor" ? `<button type="button" class="secondary" data-video-end="${esc(v.id)}">${esc(t("end"))}</button>` : ""}
      </td>`;
  }, `<tr><td colspan="5">${esc(t("video_none"))}</td></tr>`, "video");
  tick();
}

function renderOfferCountdowns() {
  for (const node of document.querySelectorAll("[data-deadline]")) {
    node.textContent = fill("offer_deadline", { s: Math.max(0, Math.round(Number(node.dataset.deadline) - pbxNow())) });
  }
}

// An offer is heard and seen even in another tab: a chime every two seconds and the tab's title, until it is
// taken, declined or passes on.
const BASE_TITLE = document.title;
function signalOffers(count) {
  document.title = count ? `● ${t("offer_title")} — ${BASE_TITLE}` : BASE_TITLE;
  if (count && !state.chime) {
    chime();
    state.chime = setInterval(chime, 2000);
  } else if (!count && state.chime) {
    clearInterval(state.chime);
    state.chime = null;
  }
}

function chime() {
  try {
    state.audio ??= new AudioContext();
    const ctx = state.audio;
    for (const [offset, frequency] of [[0, 880], [0.18, 1175]]) {
      const tone = ctx.createOscillator();
      const gain = ctx.createGain();
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, ctx.currentTime + offset);
      gain.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + offset + 0.16);
      tone.connect(gain).connect(ctx.destination);
      tone.start(ctx.currentTime + offset);
      tone.stop(ctx.currentTime + offset + 0.17);
    }
  } catch { /* no audio device: the title and the focus still tell */ }
}

// -- supervisor: today's figures -----------------------------------------------------------------------------

async function loadToday() {
  if (state.me?.role !== "supervisor") return;
  try {
    const report = await api("GET", "/api/reports/day");
    state.report = report;
    $("report-link").href = `/reports/day?date=${encodeURIComponent(report.date)}`;
    renderToday();
  } catch (error) { $("callback-outcomes").textContent = errorText(error, state.lang); }
}

async function loadWrapups() {
  if (state.me?.role !== "supervisor") return;
  try {
    state.wrapups = await api("GET", "/api/softphone/wrapups?hours=24&limit=50");
    renderWrapups();
  } catch (error) { $("wrapups-error").textContent = errorText(error, state.lang); }
}

function renderWrapups() {
  if (!state.wrapups) return;
  const when = (ts) => new Date(ts * 1000).toLocaleTimeString(state.lang === "ru" ? "ru-RU" : "en-GB",
                                                               { timeZone: state.me.timezone });
  $("wrapups").innerHTML = state.wrapups.length ? state.wrapups.map((w) => `<tr data-wrapup="${esc(w.id)}">
    <td>${esc(when(w.saved_at))}</td><td>${esc(w.username)}</td><td>${esc(w.caller)} ${esc(w.caller_name)}</td>
    <td>${esc(w.disposition)}</td><td>${esc(w.note)}</td></tr>`).join("")
    : `<tr><td colspan="5">${esc(t("no_wrapups"))}</td></tr>`;
  labelCells($("wrapups").closest("table"));
}

// Supervisors: accounts that wrong passwords hold locked, each with its unlock button.
async function loadLockouts() {
  if (state.me?.role !== "supervisor") return;
  try {
    state.lockouts = (await api("GET", "/api/accounts/lockouts")).locked;
    renderLockouts();
  } catch (error) { say("lockouts", errorText(error, state.lang), true); }
}

function renderLockouts() {
  if (!state.lockouts) return;
  $("lockouts").innerHTML = state.lockouts.length ? state.lockouts.map((user) => `<li>${esc(user)}
      <button type="button" class="secondary" data-unlock="${esc(user)}">${esc(t("unlock"))}</button></li>`).join("")
    : `<li>${esc(t("no_lockouts"))}</li>`;
}

$("lockouts").addEventListener("click", async (event) => {
  const user = event.target.closest("[data-unlock]")?.dataset.unlock;
  if (!user) return;
  try {
    await api("POST", `/api/accounts/${encodeURIComponent(user)}/unlock`);
    say("lockouts", fill("unlocked", { user }));
  } catch (error) { say("lockouts", errorText(error, state.lang), true); }
  await loadLockouts();
});

function renderToday() {
  const report = state.report;
  if (!report) return;
  const pct = (v) => (v == null ? "—" : `${Math.round(v * 100)} %`);
  // On today's report, hours still to come have no figures: a dash, not a zero.
  const today = new Date(pbxNow() * 1000).toLocaleDateString("en-CA", { timeZone: state.me.timezone }) === report.date;
  const hourNow = Number(new Date(pbxNow() * 1000).toLocaleString("en-GB", { timeZone: state.me.timezone, hour: "2-digit", hourCycle: "h23" }));
  const target = state.me.thresholds?.service_level_target;
  $("hourly").innerHTML = report.by_hour.map((h) => (today && h.hour > hourNow
    ? `<tr><td>${String(h.hour).padStart(2, "0")}:00</td><td colspan="7">${esc(t("hour_pending"))}</td></tr>`
    : `<tr><td>${String(h.hour).padStart(2, "0")}:00</td>
    <td>${h.offered}</td><td>${h.answered}</td><td>${h.abandoned}</td>
    <td class="${target !== undefined && h.service_level != null && h.service_level < target ? "alert" : ""}">${pct(h.service_level)}</td>
    <td>${h.average_speed_of_answer == null ? "—" : esc(duration(h.average_speed_of_answer))}</td>
    <td>${h.operators_logged_in ?? "—"}</td>
    <td class="${h.operators_logged_in != null && h.operators_needed > h.operators_logged_in ? "alert" : ""}">${h.operators_needed}</td></tr>`)).join("");
  labelCells($("hourly").closest("table"));
  $("erlang-note").textContent = t("erlang_note");
  const cb = report.callbacks;
  const failed = Object.entries(cb.failed_by_reason).map(([k, v]) => `${reasonText(k, state.lang) || k}: ${v}`).join(", ");
  $("callback-outcomes").textContent = `${t("requested")} ${cb.requested}; ${t("done")} ${t("first_attempt")} `
    + `${cb.completed_first_attempt}, ${t("later_attempt")} ${cb.completed_later_attempt}; ${t("failed")} ${cb.failed}`
    + `${failed ? ` (${failed})` : ""}; ${t("carried_over")} ${cb.carried_over}; ${t("pending")} ${cb.pending}`;
}

// -- live updates ------------------------------------------------------------------------------------------

function takeSnapshot(message) {
  const q = message.queue;
  q.membersByInterface = Object.fromEntries(q.members.map((m) => [m.interface, m]));
  for (const w of q.waiting) state.names[w.uniqueid] = w.callername;
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
      state.names[change.caller.uniqueid] = change.caller.callername;
      q.waiting = q.waiting.filter((w) => w.uniqueid !== change.caller.uniqueid);
      q.waiting.splice(change.caller.position - 1, 0, { estimated_wait_seconds: null, ...change.caller });
      q.waiting.forEach((w, i) => { w.position = i + 1; });
      break;
    case "call_connected":
      q.calls = (q.calls || []).filter((c) => c.interface !== change.interface);
      q.calls.push({ interface: change.interface, uniqueid: change.uniqueid, callerid: change.callerid,
                     member_name: change.member_name, answered_at: pbxNow(), hold_seconds: change.hold_seconds });
      break;
    case "call_completed":
      q.calls = (q.calls || []).filter((c) => c.interface !== change.interface);
      if (change.interface === state.me?.interface && state.pop) state.popEnded = state.pop.at;
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

// The close code the service sends when the socket's login session has ended (callcenter/web/streams.py).
const SESSION_ENDED = 4401;

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
  socket.onclose = (event) => {
    setLink(false);
    if (event.code === SESSION_ENDED) {  // logged out elsewhere, password changed, account disabled
      state.me = null;
      start();
      return;
    }
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
  $("who").textContent = `${state.me.name} (${t(`role_${state.me.role}`)})`;
  // Each role sees what its work needs: interpreters their video offers first, and no voice queue or callbacks.
  document.body.dataset.role = state.me.role;
  const interpreter = state.me.role === "interpreter";
  $("me-card").hidden = !state.me.interface || interpreter;
  $("supervisor-card").hidden = state.me.role !== "supervisor";
  for (const id of ["queue-card", "call-card", "callbacks-card"]) $(id).hidden = interpreter;
  connect();
  loadCallbacks();
  loadVideo();
  loadToday();
  loadWrapups();
  loadLockouts();
  // Operators always get the phone (or are told why not); a supervisor only when they have an extension.
  if (state.me.role === "operator" || (state.me.role === "supervisor" && state.me.extension)) {
    startSoftphone({ api, lang: state.lang, hooks: {
      showCase,
      member: () => (state.me?.interface && state.queue?.membersByInterface[state.me.interface]) || null,
      onCaller: (pop) => { state.pop = { at: Date.now(), ...pop, interface: state.me.interface }; renderCall(); },
    } }).catch((error) => { $("sp-message").textContent = errorText(error, state.lang); });
  }
}

async function meAction(path, body) {
  $("me-error").textContent = "";
  try { await api("POST", path, body); } catch (error) { $("me-error").textContent = errorText(error, state.lang); }
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
  } catch (error) {
    const code = error.data?.error;
    const minutes = Math.max(1, Math.ceil((error.data?.detail?.retry_after ?? 60) / 60));
    $("login-error").textContent = code === "login_locked" ? t("login_locked").replace("{minutes}", minutes)
      : code === "busy" ? t("login_busy") : t("bad_login");
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
  const phone = $("callback-phone").value;
  try {
    await api("POST", "/api/operator/callbacks", { phone });
    say("callback", fill("added", { phone: formatPhone(phone) }));
    $("callback-phone").value = "";
  } catch (error) { say("callback", errorText(error, state.lang), true); }
  await loadCallbacks();
});
$("callbacks").addEventListener("click", async (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  const { callNow, withdraw, details } = button.dataset;
  const callback = state.callbacks?.find((cb) => cb.id === (callNow || withdraw || details));
  const phone = formatPhone(callback?.phone ?? "");
  try {
    if (details) { await showCallback(details); return; }
    if (callNow) {
      button.disabled = true;
      await api("POST", `/api/callbacks/${encodeURIComponent(callNow)}/call-now`);
      say("callback", fill("calling", { phone }));
    }
    if (withdraw) {
      if (!window.confirm(fill("confirm_cancel", { phone }))) return;
      await api("POST", `/api/callbacks/${encodeURIComponent(withdraw)}/withdraw`, {});
      say("callback", fill("cancelled_ok", { phone }));
    }
  } catch (error) { say("callback", errorText(error, state.lang), true); }
  await loadCallbacks();
});
$("callback-detail").addEventListener("submit", async (event) => {
  event.preventDefault();
  const id = $("callback-detail").dataset.callback;
  try {
    if (event.target.id === "callback-note") {
      await api("POST", `/api/callbacks/${encodeURIComponent(id)}/notes`, { text: $("callback-note-text").value });
      say("callback", t("noted"));
    } else if (event.target.id === "callback-move") {
      // datetime-local is the operator's wall clock; the hotline's zone is the operator's (the page shows it).
      await api("POST", `/api/callbacks/${encodeURIComponent(id)}/reschedule`,
                { at: new Date($("callback-move-at").value).toISOString() });
      say("callback", t("rescheduled"));
    }
  } catch (error) { say("callback", errorText(error, state.lang), true); return; }
  state.openCallback = null;
  await showCallback(id);
  await loadCallbacks();
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
  } catch (error) { $("video-error").textContent = errorText(error, state.lang); }
  await loadVideo();
}

// Waits tick on the page; estimates come with a fresh snapshot now and then (not every second).
setInterval(tick, 1000);
setInterval(() => { if (state.socket?.readyState === WebSocket.OPEN) state.socket.send("snapshot"); }, 15000);
setInterval(() => { if (state.me) { loadCallbacks(); loadVideo(); } }, 10000);
setInterval(() => { if (state.me) { loadToday(); loadWrapups(); loadLockouts(); } }, 30000);
translate();
start();
