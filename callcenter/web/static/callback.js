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

function moscowNow() {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", {
    timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", hourCycle: "h23",
  }).formatToParts(new Date()).map((p) => [p.type, p.value]));
  return { date: `${parts.year}-${parts.month}-${parts.day}`, hour: Number(parts.hour) };
}

function addDays(isoDate, days) {
  const day = new Date(`${isoDate}T12:00:00Z`);
  day.setUTCDate(day.getUTCDate() + days);
  return day.toISOString().slice(0, 10);
}

function dayLabel(isoDate, index) {
  const text = new Date(`${isoDate}T12:00:00Z`).toLocaleDateString("ru-RU", {
    timeZone: "UTC", weekday: "short", day: "numeric", month: "long",
  });
  return index === 0 ? `Сегодня, ${text}` : index === 1 ? `Завтра, ${text}` : text;
}

// A select of days (the first: as soon as possible) and of two-hour windows: two Tab stops where two
// datetime-local fields cost fourteen.
function fillDays() {
  const now = moscowNow();
  const options = [new Option("Как можно скорее", "")];
  for (let index = 0; index < DAYS_AHEAD; index += 1) {
    if (index === 0 && now.hour >= CLOSES - 1) continue;  // too late today for a window to choose
    const date = addDays(now.date, index);
    options.push(new Option(dayLabel(date, index), date));
  }
  daySelect.replaceChildren(...options);
  fillWindows();
}

function fillWindows() {
  const day = daySelect.value;
  windowSelect.disabled = !day;
  const now = moscowNow();
  const options = [new Option(`В любое время (${OPENS}:00–${CLOSES}:00)`, "")];
  for (const [from, to] of WINDOWS) {
    if (day === now.date && to <= now.hour + 1) continue;  // a window already (nearly) over
    options.push(new Option(`${from}:00–${to}:00`, `${from}-${to}`));
  }
  windowSelect.replaceChildren(...options);
}

function chosenWindow() {
  const day = daySelect.value;
  if (!day) return {};
  const [from, to] = windowSelect.value ? windowSelect.value.split("-").map(Number) : [OPENS, CLOSES];
  const at = (hour) => `${day}T${String(hour).padStart(2, "0")}:00:00${OFFSET}`;
  return { not_before: at(from), not_after: at(to) };
}

function show(kind, text, extra) {
  result.className = kind;
  result.replaceChildren(document.createTextNode(text));
  if (extra) result.append(" ", extra);
  result.hidden = false;
}

// Why a number was refused, for people: the service's codes (and the reason for phone_not_allowed).
const NOT_ALLOWED = {
  foreign: "Горячая линия перезванивает только на российские номера. Этот номер зарубежный " +
    "(например, +7 7… — это номера Казахстана). Укажите российский мобильный или городской номер.",
  own_number: "Это номер самой горячей линии. Укажите свой номер телефона.",
  number_type: "На платные, бесплатные (8-800) и служебные номера горячая линия не перезванивает. " +
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
  no_working_hours: "В выбранное время горячая линия не работает (она открыта с 8:00 до 20:00 по московскому времени).",
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
  message.textContent = text;
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
  const when = new Date(body.estimated_call_at * 1000).toLocaleString("ru-RU", {
    timeZone: ZONE, dateStyle: "long", timeStyle: "short",
  });
  const again = body.existing ? "Это ваша заявка, она уже принята. " : "Заявка принята. ";
  show("ok", `${again}Номер ${body.phone}, вы ${body.position}-й в очереди. Ожидайте звонка примерно ${when} ` +
    "(по Москве). Если вы не сможете ответить, оператор позвонит ещё раз немного позже.", own ? cancelButton(own) : null);
  // Done: the form is emptied, so the same request is not sent twice by a second press.
  form.reset();
  fillDays();
  result.focus();
});

fillDays();
