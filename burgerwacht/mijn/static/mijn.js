// Mijn Burgerwacht: sign in with a code by SMS, then see and change one's own settings.
// No framework; every text a resident reads is in T (Dutch and English).

const T = {
  nl: {
    skip: 'Naar de inhoud', title: 'Mijn Burgerwacht', login_title: 'Inloggen', phone_label: 'Uw telefoonnummer',
    send_code: 'Stuur mij een code', code_label: 'De code uit de sms (6 cijfers)', sign_in: 'Inloggen',
    mine_title: 'Uw instellingen', number: 'Nummer', language: 'Taal van berichten',
    bulletins: 'Nieuwsberichten uit de buurt', bulletins_label: 'Ja, stuur mij ook nieuwsberichten',
    access: 'Toegankelijkheid', slow: 'Langzaam spreken bij een oproep', repeat: 'Het bericht twee keer laten horen',
    sms_only: 'Alleen sms, nooit bellen (doof of slechthorend)', save: 'Opslaan',
    pause: 'Pauze (bijvoorbeeld op vakantie)', pause_days: 'Aantal dagen', pause_all: 'Ook geen berichten bij vermissing',
    pause_start: 'Pauze starten', pause_stop: 'Pauze stoppen', addresses: 'Uw adressen', add: 'Adres toevoegen',
    postcode: 'Postcode', house_number: 'Huisnummer', label: 'Naam (bijv. werk)', add_button: 'Toevoegen',
    data: 'Uw gegevens', export: 'Download mijn gegevens', erase: 'Alles verwijderen',
    erase_q: 'Weet u het zeker? Al uw gegevens worden gewist en u krijgt geen berichten meer.',
    erase_yes: 'Ja, verwijder alles', erase_no: 'Nee, terug', logout: 'Uitloggen', danger: 'Bij direct gevaar: bel 112.',
    toggle: 'English', code_sent: 'Als dit nummer is aangemeld, krijgt u nu een code per sms.',
    signed_in: 'U bent ingelogd.', saved: 'Opgeslagen.', paused_until: 'Pauze tot {d}.', paused_all: 'Ook geen berichten bij vermissing.',
    not_paused: 'Geen pauze: u krijgt gewoon berichten.', erased: 'Al uw gegevens zijn verwijderd.', signed_out: 'U bent uitgelogd.',
    channels: 'Berichten voor dit adres', sms: 'sms', voice: 'gesproken oproep', windows: 'Alleen op deze tijden (leeg: altijd)',
    add_window: 'Tijdvak toevoegen', remove_window: 'Tijdvak weghalen', from: 'van', to: 'tot', remove: 'Adres verwijderen',
    visit_until: 'bezoek tot {d}', name: 'Naam', days: ['ma', 'di', 'wo', 'do', 'vr', 'za', 'zo'],
    day_names: ['maandag', 'dinsdag', 'woensdag', 'donderdag', 'vrijdag', 'zaterdag', 'zondag'], added: 'Adres toegevoegd.',
    removed: 'Adres verwijderd.', error: 'Er ging iets mis. Probeer het opnieuw.',
  },
  en: {
    skip: 'Skip to content', title: 'My Burgerwacht', login_title: 'Sign in', phone_label: 'Your phone number',
    send_code: 'Send me a code', code_label: 'The code from the SMS (6 digits)', sign_in: 'Sign in',
    mine_title: 'Your settings', number: 'Number', language: 'Language of messages',
    bulletins: 'Neighbourhood news', bulletins_label: 'Yes, also send me neighbourhood news',
    access: 'Accessibility', slow: 'Speak slowly in calls', repeat: 'Say the message twice',
    sms_only: 'SMS only, never a call (deaf or hard of hearing)', save: 'Save',
    pause: 'Pause (for example on holiday)', pause_days: 'Number of days', pause_all: 'Not even for missing persons',
    pause_start: 'Start pause', pause_stop: 'End pause', addresses: 'Your addresses', add: 'Add an address',
    postcode: 'Postcode', house_number: 'House number', label: 'Name (e.g. work)', add_button: 'Add',
    data: 'Your data', export: 'Download my data', erase: 'Erase everything',
    erase_q: 'Are you sure? All your data will be erased and you will get no more messages.',
    erase_yes: 'Yes, erase everything', erase_no: 'No, go back', logout: 'Sign out', danger: 'In an emergency: call 112.',
    toggle: 'Nederlands', code_sent: 'If this number is enrolled, a code is on its way by SMS.',
    signed_in: 'You are signed in.', saved: 'Saved.', paused_until: 'Paused until {d}.', paused_all: 'Not even for missing persons.',
    not_paused: 'No pause: you get alerts as usual.', erased: 'All your data has been erased.', signed_out: 'You are signed out.',
    channels: 'Alerts for this address', sms: 'SMS', voice: 'voice call', windows: 'Only at these times (empty: always)',
    add_window: 'Add a time window', remove_window: 'Remove time window', from: 'from', to: 'to', remove: 'Remove address',
    visit_until: 'visit until {d}', name: 'Name', days: ['Mo', 'Tu', 'We', 'Th', 'Fr', 'Sa', 'Su'],
    day_names: ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'], added: 'Address added.',
    removed: 'Address removed.', error: 'Something went wrong. Please try again.',
  },
};

let lang = 'nl';
let loginId = null;
let me = null;
const $ = (id) => document.getElementById(id);
const t = (key, d) => T[lang][key].replace('{d}', d ?? '');

function applyLanguage() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  const toggle = $('lang-toggle');
  toggle.textContent = t('toggle');
  toggle.lang = lang === 'nl' ? 'en' : 'nl';
}

function say(message) {
  $('error').hidden = true;
  $('status').textContent = message;
}

function fail(message) {
  $('status').textContent = '';
  const el = $('error');
  el.textContent = message;
  el.hidden = false;
}

async function call(method, path, body) {
  const options = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  const resp = await fetch(path, options);
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (!resp.ok) {
    if (resp.status === 401 && me) showLogin();
    const detail = data && (data.detail || (data.errors && data.errors[0] && data.errors[0].message));
    throw new Error(detail || t('error'));
  }
  return data;
}

function when(iso) {
  return new Date(iso).toLocaleString(lang === 'nl' ? 'nl-NL' : 'en-GB', {
    timeZone: 'Europe/Amsterdam', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit',
  });
}

function showLogin() {
  me = null;
  $('mine').hidden = true;
  $('login').hidden = false;
  $('code-form').hidden = true;
  $('phone-form').hidden = false;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else if (v === true) node.setAttribute(k, '');
    else if (v !== false && v !== null && v !== undefined) node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

function windowRow(n, i, w) {
  const id = `a${n}-w${i}`;
  const row = el('div', { class: 'window', role: 'group', 'aria-label': `${t('windows')} ${i + 1}` });
  const days = el('div');
  T[lang].days.forEach((d, k) => {
    const box = el('input', { type: 'checkbox', id: `${id}-d${k + 1}`, value: String(k + 1), checked: w.days.includes(k + 1) });
    days.append(el('label', { class: 'inline', for: `${id}-d${k + 1}`, title: T[lang].day_names[k] }, box, ` ${d}`));
  });
  row.append(days);
  row.append(el('label', { class: 'inline', for: `${id}-start`, text: t('from') }),
    el('input', { type: 'time', id: `${id}-start`, value: w.start.slice(0, 5), class: 'w-start' }),
    el('label', { class: 'inline', for: `${id}-end`, text: ` ${t('to')}` }),
    el('input', { type: 'time', id: `${id}-end`, value: w.end.slice(0, 5), class: 'w-end' }));
  const drop = el('button', { type: 'button', class: 'link', text: t('remove_window') });
  drop.addEventListener('click', () => row.remove());
  row.append(' ', drop);
  return row;
}

function addressItem(a) {
  const n = a.number;
  const title = `${n}) ${a.address} (${a.visit_until ? t('visit_until', when(a.visit_until)) : a.label})`;
  const form = el('form', { id: `address-${n}`, novalidate: true });
  form.append(el('h3', { text: title }));
  form.append(el('label', { for: `a${n}-label`, text: t('name') }),
    el('input', { id: `a${n}-label`, value: a.label, maxlength: '40' }));
  const channels = el('fieldset', {}, el('legend', { text: t('channels') }));
  for (const c of ['sms', 'voice']) {
    const disabled = (c === 'sms' && !me.can_sms) || (c === 'voice' && me.sms_only);
    channels.append(el('label', { for: `a${n}-${c}` },
      el('input', { type: 'checkbox', id: `a${n}-${c}`, checked: a.channels.includes(c), disabled }), ` ${t(c)}`));
  }
  form.append(channels);
  const windows = el('fieldset', { class: 'windows' }, el('legend', { text: t('windows') }));
  const list = el('div', { class: 'window-list' });
  a.time_windows.forEach((w, i) => list.append(windowRow(n, i, w)));
  const more = el('button', { type: 'button', id: `a${n}-add-window`, text: t('add_window') });
  more.addEventListener('click', () => {
    list.append(windowRow(n, list.children.length + Date.now() % 1000, { days: [1, 2, 3, 4, 5], start: '08:00', end: '18:00' }));
  });
  windows.append(list, more);
  form.append(windows);
  form.append(el('button', { type: 'submit', id: `a${n}-save`, text: t('save') }));
  const remove = el('button', { type: 'button', class: 'danger', id: `a${n}-remove`, text: t('remove') });
  remove.addEventListener('click', () => act(async () => {
    render(await call('DELETE', `/mijn/api/addresses/${n}`));
    say(t('removed'));
  }));
  form.append(remove);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    act(async () => {
      const chosen = ['sms', 'voice'].filter((c) => form.querySelector(`#a${n}-${c}`).checked);
      const time_windows = [...list.children].map((row) => ({
        days: [...row.querySelectorAll('input[type=checkbox]:checked')].map((b) => Number(b.value)),
        start: row.querySelector('.w-start').value,
        end: row.querySelector('.w-end').value,
      }));
      render(await call('PATCH', `/mijn/api/addresses/${n}`, {
        label: form.querySelector(`#a${n}-label`).value.trim() || null,
        channels: chosen.length ? chosen : null,
        time_windows,
      }));
      say(t('saved'));
    });
  });
  return el('li', {}, form);
}

function render(data) {
  me = data;
  if (me.language !== lang) {
    lang = me.language;
    applyLanguage();
  }
  $('login').hidden = true;
  $('mine').hidden = false;
  $('who').textContent = me.phone;
  $(`lang-${me.language}`).checked = true;
  $('bulletins').checked = me.bulletins_opt_in;
  $('slow').checked = me.slow_speech;
  $('repeat').checked = me.repeat_message;
  $('sms-only').checked = me.sms_only;
  $('sms-only').disabled = !me.can_sms;
  $('pause-days').max = String(me.pause_max_days);
  $('pause-state').textContent = me.paused_until
    ? `${t('paused_until', when(me.paused_until))} ${me.pause_all ? t('paused_all') : ''}`
    : t('not_paused');
  $('pause-stop').hidden = !me.paused_until;
  $('addresses').replaceChildren(...me.addresses.map(addressItem));
}

async function act(fn) {
  $('status').textContent = '';
  $('error').hidden = true;
  try {
    await fn();
  } catch (err) {
    fail(err.message);
  }
}

function wire() {
  $('lang-toggle').addEventListener('click', () => {
    lang = lang === 'nl' ? 'en' : 'nl';
    applyLanguage();
    if (me) render(me);
  });
  $('phone-form').addEventListener('submit', (event) => {
    event.preventDefault();
    act(async () => {
      const out = await call('POST', '/mijn/api/login', { phone: $('phone').value, language: lang });
      loginId = out.id;
      say(out.detail);
      $('code-form').hidden = false;
      $('code').focus();
    });
  });
  $('code-form').addEventListener('submit', (event) => {
    event.preventDefault();
    act(async () => {
      await call('POST', `/mijn/api/login/${loginId}/verify`, { code: $('code').value.trim() });
      $('code').value = '';
      render(await call('GET', '/mijn/api/me'));
      say(t('signed_in'));
      $('mine-title').focus();
    });
  });
  $('settings-form').addEventListener('submit', (event) => {
    event.preventDefault();
    act(async () => {
      render(await call('PATCH', '/mijn/api/me', {
        language: $('lang-en').checked ? 'en' : 'nl',
        bulletins_opt_in: $('bulletins').checked,
        slow_speech: $('slow').checked,
        repeat_message: $('repeat').checked,
        sms_only: $('sms-only').checked,
      }));
      say(t('saved'));
    });
  });
  $('pause-form').addEventListener('submit', (event) => {
    event.preventDefault();
    act(async () => {
      render(await call('PATCH', '/mijn/api/me', {
        pause_days: Number($('pause-days').value), pause_all: $('pause-all').checked,
      }));
      say(t('saved'));
    });
  });
  $('pause-stop').addEventListener('click', () => act(async () => {
    render(await call('PATCH', '/mijn/api/me', { pause_days: 0 }));
    say(t('saved'));
  }));
  $('add-form').addEventListener('submit', (event) => {
    event.preventDefault();
    act(async () => {
      render(await call('POST', '/mijn/api/addresses', {
        postcode: $('add-postcode').value, house_number: $('add-number').value, label: $('add-label').value || 'adres',
      }));
      say(t('added'));
    });
  });
  $('erase').addEventListener('click', () => {
    $('erase-confirm').hidden = false;
    $('erase-no').focus();
  });
  $('erase-no').addEventListener('click', () => { $('erase-confirm').hidden = true; });
  $('erase-yes').addEventListener('click', () => act(async () => {
    await call('DELETE', '/mijn/api/me');
    $('erase-confirm').hidden = true;
    showLogin();
    say(t('erased'));
  }));
  $('logout').addEventListener('click', () => act(async () => {
    await call('POST', '/mijn/api/logout');
    showLogin();
    say(t('signed_out'));
  }));
}

wire();
applyLanguage();
// a session still running (the cookie is HttpOnly: ask the server)
call('GET', '/mijn/api/session')
  .then(async (state) => { if (state.signed_in) render(await call('GET', '/mijn/api/me')); })
  .catch((err) => fail(err.message));
