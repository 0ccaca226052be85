// The residents' callback page: posts the form to /api/callbacks and shows the answer (and a cancel button).
const form = document.getElementById("request");
const result = document.getElementById("result");
const daySelect = document.getElementById("when-day");
const windowSelect = document.getElementById("when-window");
// Cancel tokens this page was given (only in memory: never stored on a computer others may use). With one, a
// second request for the same number shows the resident their request again; without, the service says only
// that the number already has one.
const tokens = [];

// The hotline works by Moscow time, which has kept UTC+3 all year since 2014: the times sent carry that offset,
// whatever the resident's own clock says.
const ZONE = "Europe/Moscow";
const OFFSET = "+03:00";
const OPENS = 8;
const CLOSES = 20;
const WINDOWS = [[8, 10], [10, 12], [12, 14], [14, 16], [16, 18], [18, 20]];
const DAYS_AHEAD = 7;

// The hotline's own facts (GET /api/hotline): its number, its open days and hours from today, how many times a
// callback is dialled, and the service's clock. Until they come, or if they cannot, the usual week: every day
// 8:00-20:00 by the resident's own clock.
let facts = null;
let factsAt = 0;

function moscowNow() {
  const at = facts ? new Date(facts.now * 1000 + (Date.now() - factsAt)) : new Date();
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", {
    timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(at).map((p) => [p.type, p.value]));
  return { date: `${parts.year}-${parts.month}-${parts.day}`, hour: Number(parts.hour) + Number(parts.minute) / 60 };
}

function addDays(isoDate, days) {
  const day = new Date(`${isoDate}T12:00:00Z`);
  day.setUTCDate(day.getUTCDate() + days);
  return day.toISOString().slice(0, 10);
}

function daysBetween(from, to) {
  return Math.round((Date.parse(`${to}T12:00:00Z`) - Date.parse(`${from}T12:00:00Z`)) / 86_400_000);
}

function dayLabel(isoDate, index) {
  const text = new Date(`${isoDate}T12:00:00Z`).toLocaleDateString("ru-RU", {
    timeZone: "UTC", weekday: "short", day: "numeric", month: "long",
  });
  return index === 0 ? `Сегодня, ${text}` : index === 1 ? `Завтра, ${text}` : text;
}

const hourOf = (hhmm) => Number(hhmm.slice(0, 2)) + Number(hhmm.slice(3, 5)) / 60;
const clock = (hour) => `${Math.floor(hour)}:${String(Math.round((hour % 1) * 60)).padStart(2, "0")}`;

// The days a callback may be booked for, with their hours: a holiday or changed hours come from the service.
function openDays() {
  if (facts) return facts.days.map((d) => ({ date: d.date, opens: hourOf(d.open), closes: hourOf(d.close) }));
  const today = moscowNow().date;
  return Array.from({ length: DAYS_AHEAD }, (_, i) => ({ date: addDays(today, i), opens: OPENS, closes: CLOSES }));
}

// A select of days (the first: as soon as possible) and of two-hour windows: two Tab stops where two
// datetime-local fields cost fourteen.
function fillDays() {
  const now = moscowNow();
  const kept = daySelect.value;
  const options = [new Option("Как можно скорее", "")];
  for (const day of openDays()) {
    const index = daysBetween(now.date, day.date);
    if (index < 0 || (index === 0 && now.hour >= day.closes - 1)) continue;  // too late that day for a window
    options.push(new Option(dayLabel(day.date, index), day.date));
  }
  daySelect.replaceChildren(...options);
  if (options.some((option) => option.value === kept)) daySelect.value = kept;
  fillWindows();
}

function hoursOf(date) {
  return openDays().find((day) => day.date === date) ?? { opens: OPENS, closes: CLOSES };
}

function fillWindows() {
  const day = daySelect.value;
  windowSelect.disabled = !day;
  const now = moscowNow();
  const { opens, closes } = hoursOf(day);
  const options = [new Option(`В любое время (${clock(opens)}–${clock(closes)})`, "")];
  for (const [start, end] of WINDOWS) {
    const [from, to] = [Math.max(start, opens), Math.min(end, closes)];
    if (to - from < 0.5) continue;  // outside the day's hours, or half an hour of it at most
    if (day === now.date && to <= now.hour + 1) continue;  // a window already (nearly) over
    options.push(new Option(`${clock(from)}–${clock(to)}`, `${from}-${to}`));
  }
  windowSelect.replaceChildren(...options);
}

function chosenWindow() {
  const day = daySelect.value;
  if (!day) return {};
  const { opens, closes } = hoursOf(day);
  const [from, to] = windowSelect.value ? windowSelect.value.split("-").map(Number) : [opens, closes];
  const at = (hour) => hour >= 24 ? `${addDays(day, 1)}T00:00:00${OFFSET}`
    : `${day}T${String(Math.floor(hour)).padStart(2, "0")}:${String(Math.round((hour % 1) * 60)).padStart(2, "0")}:00${OFFSET}`;
  return { not_before: at(from), not_after: at(to) };
}

// When the call is expected, as a person says it: "сегодня в 14:30", "завтра в 10:00", "3 декабря в 10:00".
function callTime(seconds) {
  const at = new Date(seconds * 1000);
  const date = new Intl.DateTimeFormat("en-CA", { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit" })
    .format(at);
  const time = at.toLocaleTimeString("ru-RU", { timeZone: ZONE, hour: "2-digit", minute: "2-digit" });
  const ahead = daysBetween(moscowNow().date, date);
  const day = ahead === 0 ? "сегодня" : ahead === 1 ? "завтра"
    : at.toLocaleDateString("ru-RU", { timeZone: ZONE, day: "numeric", month: "long" });
  return `${day} в ${time}`;
}

// "Call the hotline" with its number, once the service has said it: a tel: link (a tap calls it on a phone).
function withNumber(text) {
  if (!facts) return [text];
  return text.split("на горячую линию").flatMap((part, index) => index ? ["на горячую линию (", numberLink(), ")", part]
    : [part]);
}

function numberLink() {
  const link = document.createElement("a");
  link.href = `tel:${facts.number}`;
  link.className = "number";
  link.textContent = facts.number_display;
  return link;
}

async function loadFacts() {
  try {
    const response = await fetch("/api/hotline");
    if (!response.ok) return;
    facts = await response.json();
    factsAt = Date.now();
  } catch {
    return;  // the usual week stays on the page
  }
  document.getElementById("hotline-number").replaceChildren(numberLink());
  document.getElementById("hotline").hidden = false;
  const hours = new Set(facts.days.map((day) => `${day.open}-${day.close}`));
  if (hours.size === 1) {
    const [day] = facts.days;
    document.getElementById("hours-text").textContent = `с ${clock(hourOf(day.open))} до ${clock(hourOf(day.close))}`;
  } else {
    document.getElementById("hours-text").textContent = "в часы работы горячей линии (дни и часы — в списке ниже)";
  }
  fillDays();
}

function show(kind, text, extra) {
  result.className = kind;
  result.replaceChildren(...withNumber(text));
  if (extra) result.append(" ", extra);
  result.hidden = false;
}

// Why a number was refused, for people: the service's codes (and the reason for phone_not_allowed).
const NOT_ALLOWED = {
  foreign: "Горячая линия перезванивает только на российские номера. Этот номер зарубежный " +
    "(например, +7 7… — это номера Казахстана). Укажите российский мобильный или городской номер.",
  own_number: "Это номер самой горячей линии. Укажите свой номер телефона.",
  // A non-breaking hyphen: "8-" at a line's end and "800" on the next read as two things.
  number_type: "На платные, бесплатные (8\u2011800) и служебные номера горячая линия не перезванивает. " +
    "Укажите мобильный или городской номер.",
  prefix: "На номера этого региона горячая линия не перезванивает. Укажите другой номер.",
};
const REFUSED = {
  phone_invalid: "Проверьте номер телефона: например, 8 916 123-45-67 или +7 495 123-45-67.",
  too_many_requests: "Сегодня с этого номера или с этого устройства уже оставлено слишком много заявок. " +
    "Попробуйте завтра или позвоните на горячую линию.",
  window_reversed: "Выбранное время уже закончилось или указано наоборот. Выберите другое время.",
  window_in_the_past: "Выбранное время уже прошло. Выберите другое время.",
  window_too_far: "Звонок можно заказать не дальше чем на 30 дней вперёд.",
  no_working_hours: "В выбранное время горячая линия не работает. Выберите день и время из списка.",
  store_unavailable: "Сервис на минуту недоступен. Попробуйте ещё раз через несколько секунд.",
  callbacks_unavailable: "Заказ обратного звонка сейчас не работает. Позвоните, пожалуйста, на горячую линию.",
};
const FALLBACK = "Не удалось принять заявку. Проверьте данные и попробуйте ещё раз или позвоните на горячую линию.";
// Which field a refusal is about: it gets aria-invalid and the focus.
const FIELD_OF = { phone_invalid: "phone", phone_not_allowed: "phone", window_reversed: "when-day",
  window_in_the_past: "when-day", window_too_far: "when-day", no_working_hours: "when-day" };

function refusal(body) {
  if (body.error === "phone_not_allowed") return NOT_ALLOWED[body.reason] || NOT_ALLOWED.prefix;
  if (body.error === "invalid_field" && body.detail && "topic" in body.detail) {
    return "Тема — не длиннее 200 знаков.";
  }
  return REFUSED[body.error] || FALLBACK;
}

function fieldOf(body) {
  if (body.error === "invalid_field" && body.detail) {
    if ("topic" in body.detail) return "topic";
    if ("phone" in body.detail) return "phone";
    return "when-day";
  }
  return FIELD_OF[body.error];
}

function clearInvalid() {
  for (const field of form.querySelectorAll("[aria-invalid]")) {
    field.removeAttribute("aria-invalid");
    field.setAttribute("aria-describedby", field.dataset.describedby ?? field.getAttribute("aria-describedby"));
  }
  for (const message of form.querySelectorAll(".field-error")) {
    message.hidden = true;
    message.textContent = "";
  }
}

// The refusal is said under the field it is about (on a phone the box under the button is off screen while the
// focus is on the field), read with the field by screen readers, and the field gets the focus.
function markInvalid(id, text) {
  const field = document.getElementById(id);
  const message = document.getElementById(`${id}-error`);
  if (!field || !message) return false;
  message.replaceChildren(...withNumber(text));
  message.hidden = false;
  field.dataset.describedby ??= field.getAttribute("aria-describedby") ?? "";
  field.setAttribute("aria-invalid", "true");
  field.setAttribute("aria-describedby", `${field.dataset.describedby} ${message.id}`.trim());
  field.focus();
  return true;
}

function cancelButton(own) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary";
  button.id = "cancel";
  button.textContent = "Отменить заявку";
  button.addEventListener("click", async () => {
    if (!window.confirm("Отменить заявку на обратный звонок?")) return;
    const answer = await fetch(`/api/callbacks/${encodeURIComponent(own.id)}/cancel`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: own.token }),
    }).catch(() => null);
    show(answer?.ok ? "ok" : "error", answer?.ok ? "Заявка отменена." : "Не удалось отменить заявку. " +
      "Попробуйте ещё раз или позвоните на горячую линию.");
    result.focus();
  });
  return button;
}

daySelect.addEventListener("change", () => {
  fillWindows();
  clearInvalid();
});
form.addEventListener("input", clearInvalid);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearInvalid();
  if (!form.phone.value.trim()) {
    result.hidden = true;
    markInvalid("phone", "Укажите номер телефона, на который вам перезвонить.");
    return;
  }
  const payload = { phone: form.phone.value, ...chosenWindow() };
  if (form.topic.value.trim()) payload.topic = form.topic.value.trim();
  if (tokens.length) payload.cancel_token = tokens[tokens.length - 1].token;
  const submit = form.querySelector('button[type="submit"]');
  submit.disabled = true;
  let response;
  let body = {};
  try {
    response = await fetch("/api/callbacks", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload),
    });
    body = await response.json().catch(() => ({}));
  } catch {
    response = null;
  } finally {
    submit.disabled = false;
  }
  if (!response) {
    show("error", "Нет связи с сервисом. Проверьте интернет и попробуйте ещё раз.");
    submit.focus();
    return;
  }
  if (!response.ok) {
    if (markInvalid(fieldOf(body), refusal(body))) {
      result.hidden = true;
    } else {
      show("error", refusal(body));
      result.focus();
    }
    return;
  }
  if (body.existing && !body.id) {
    // Someone (perhaps this resident, earlier) already asked for this number: nothing more is told.
    show("ok", "На этот номер уже есть заявка на обратный звонок — оператор позвонит в порядке очереди. " +
      "Если заявку оставляли вы, ждите звонка; отменить её можно кнопкой, которая была показана при оформлении, " +
      "или позвонив на горячую линию.");
    result.focus();
    return;
  }
  if (body.cancel_token) tokens.push({ id: body.id, token: body.cancel_token });
  const own = tokens.find((t) => t.id === body.id);
  const when = callTime(body.estimated_call_at);
  const again = body.existing ? "Это ваша заявка, она уже принята. " : "Заявка принята. ";
  // Non-breaking spaces: the masked number ("+7 *** ***-12-34") is read in one piece, not split over two lines.
  show("ok", `${again}Номер ${body.phone.replaceAll(" ", "\u00a0")}, вы ${body.position}-й в очереди. Ожидайте звонка примерно ${when} ` +
    `(по Москве). ${(facts?.callback_attempts ?? 3) > 1 ? "Если вы не сможете ответить, оператор позвонит ещё раз " +
      "немного позже." : "Звонок будет один: держите, пожалуйста, телефон рядом."}`, own ? cancelButton(own) : null);
  // Done: the form is emptied, so the same request is not sent twice by a second press.
  form.reset();
  fillDays();
  result.focus();
});

fillDays();
loadFacts();
