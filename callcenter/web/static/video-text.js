// What the video page says, and real-time text's arithmetic: pure functions, no DOM, so each rule is testable.

const NAMES = { resident: "Житель", interpreter: "Переводчик", operator: "Оператор" };

// Who said a chat line, as this page's reader knows them: "Вы" is only ever the reader.
export function speaker(from, me) {
  return from === me ? "Вы" : NAMES[from] || "Участник";
}

export function typingLabel(from) {
  return `${NAMES[from] || "Участник"} пишет:`;
}

function estimate(waiting) {
  if (waiting.offered) return " Звонок уже передан переводчику, он сейчас ответит.";
  // No estimate for an interpreter: none is on duty (the service estimates whenever one is), not "all busy".
  if (waiting.estimated_wait == null) {
    return waiting.waiting_for === "interpreter"
      ? " Сейчас ни один переводчик не на связи: вас соединят с первым, кто подключится." : "";
  }
  if (waiting.estimated_wait < 60) return " Скоро ответит.";
  return ` Примерное ожидание: ${Math.round(waiting.estimated_wait / 60)} мин.`;
}

function residentStatus(session) {
  const waiting = session.waiting || {};
  switch (session.state) {
    case "waiting_interpreter": {
      const place = waiting.position ? ` Вы ${waiting.position}-й в очереди.` : "";
      return `Ищем переводчика жестового языка.${place}${estimate(waiting)}`;
    }
    case "with_interpreter":
      return "Переводчик на связи." + (session.waiting?.waiting_for === "operator"
        ? " Подключаем оператора." : "");
    case "waiting_operator": {
      const place = waiting.position ? ` Вы ${waiting.position}-й в очереди.` : "";
      return `Ждём оператора.${place}`;
    }
    case "with_operator":
      return session.mode === "sign" ? "Переводчик и оператор на связи." : "Оператор на связи.";
    case "ended":
      return "Звонок завершён.";
    default:
      return "Соединяем…";
  }
}

// Staff read about the resident in the third person, and about themselves as "вы".
function staffStatus(session, me) {
  const other = me === "interpreter" ? "оператор" : "переводчик";
  switch (session.state) {
    case "waiting_interpreter":
      return "Житель ждёт переводчика.";
    case "with_interpreter":
      if (me === "interpreter") {
        return "Вы на связи с жителем." + (session.waiting?.waiting_for === "operator"
          ? " Ищем оператора." : " Оператор не подключён.");
      }
      return "Житель на связи с переводчиком.";
    case "waiting_operator":
      return "Житель ждёт оператора.";
    case "with_operator":
      return session.mode === "sign" ? `Вы на связи с жителем; ${other} тоже на связи.` : "Вы на связи с жителем.";
    case "ended":
      return "Сеанс завершён.";
    default:
      return "Подключаемся…";
  }
}

export function statusText(session, me) {
  return me === "resident" ? residentStatus(session) : staffStatus(session, me);
}

// Which role plays in this page's large and small pictures (the service's routing, callcenter/video/model.py).
export function pictures(mode, me) {
  if (mode !== "sign") return { main: me === "resident" ? "operator" : "resident", side: null };
  return {
    resident: { main: "interpreter", side: "operator" },
    interpreter: { main: "resident", side: "operator" },
    operator: { main: "resident", side: "interpreter" },
  }[me] || { main: "interpreter", side: "operator" };
}

export function present(session, role) {
  if (role === "resident") return session.state !== "ended";
  return Boolean(session[`${role}_present`]);
}

export function pictureName(role) {
  return NAMES[role] || "";
}

export function waitingNote(session, me) {
  if (me !== "resident") return "Житель не на связи.";
  return session.mode === "sign" && !session.interpreter_present ? "Ищем переводчика…" : "Ждём оператора…";
}

const ERRORS = {
  chat_too_fast: "Сообщение не отправлено: слишком много сообщений подряд. Подождите секунду.",
  chat_too_long: "Сообщение не отправлено: не больше 1000 знаков.",
  chat_full: "Сообщение не отправлено: в этом звонке уже слишком много сообщений.",
  bad_chat: "Пустое сообщение не отправлено.",
  text_too_long: "Слишком длинный текст за один раз.",
  text_too_fast: "Текст приходит слишком быстро; часть набранного собеседник может не увидеть до отправки.",
  session_ended: "Звонок уже завершён.",
  bad_token: "Звонок завершён или ссылка устарела.",
  not_in_session: "Вы не участник этого сеанса.",
  login_required: "Войдите в систему, чтобы открыть сеанс.",
  no_session: "Такого сеанса нет.",
  too_many_sessions: "С вашего адреса уже идёт видеозвонок или их было слишком много за этот час. Завершите начатый звонок или попробуйте позже.",
  consent_required: "Чтобы позвонить, отметьте согласие.",
  video_unavailable: "Видеозвонки сейчас недоступны. Позвоните на горячую линию или закажите обратный звонок.",
};

// A Russian sentence for an error code; the service's English message is never shown.
export function errorText(code) {
  return ERRORS[code] || "Что-то пошло не так. Попробуйте ещё раз.";
}

export function isChatRefusal(code) {
  return code.startsWith("chat_") || code === "bad_chat";
}

// Real-time text (T.140, RFC 8865): characters appended, BACKSPACE erasing one, LINE SEPARATOR ending the line.
// Counted in code points, as the service counts them (a JavaScript string's length counts UTF-16 units).
export const BACKSPACE = "\b";
export const LINE_SEPARATOR = "\u2028";

export function increment(before, after) {
  const old = Array.from(before);
  const now = Array.from(after);
  let common = 0;
  while (common < old.length && common < now.length && old[common] === now[common]) common += 1;
  return BACKSPACE.repeat(old.length - common) + now.slice(common).join("");
}

export function applyT140(line, t140) {
  const chars = Array.from(line);
  for (const char of t140) {
    if (char === BACKSPACE) chars.pop();
    else if (char === LINE_SEPARATOR || char === "\r" || char === "\n") chars.length = 0;
    else if (char !== "\ufeff" && char >= " ") chars.push(char);
  }
  return chars.join("");
}
