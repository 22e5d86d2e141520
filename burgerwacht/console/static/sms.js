// SMS encoding as the operator types: GSM-7 or UCS-2, segments, and the characters
// that force UCS-2. The same tables and rules as burgerwacht/messaging/encoding.py
// (GSM 03.38 default alphabet + extension table; 160/153 septets, 70/67 UTF-16 units;
// an escape pair or a surrogate pair is never split). The preview from the server is
// the authority; this is the live hint while typing (a browser test compares both).

const GSM7_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ" +
    " !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§" +
    "¿abcdefghijklmnopqrstuvwxyzäöñüà",
);
const GSM7_EXTENSION = new Set("\f^{}\\[~]|€");

export function isGsm7Char(ch) {
  return GSM7_BASIC.has(ch) || GSM7_EXTENSION.has(ch);
}

function countSegments(units, single, part) {
  const total = units.reduce((a, b) => a + b, 0);
  if (total <= single) return 1;
  let segments = 1;
  let used = 0;
  for (const cost of units) {
    if (used + cost > part) {
      segments += 1;
      used = 0;
    }
    used += cost;
  }
  return segments;
}

/** {encoding, segments, characters, ucs2_characters} like the API's preview. */
export function analyse(text) {
  const chars = Array.from(text); // code points
  const offending = [];
  for (const ch of chars) if (!isGsm7Char(ch) && !offending.includes(ch)) offending.push(ch);
  if (!offending.length) {
    const units = chars.map((ch) => (GSM7_EXTENSION.has(ch) ? 2 : 1));
    return {
      encoding: "GSM-7",
      segments: countSegments(units, 160, 153),
      characters: units.reduce((a, b) => a + b, 0),
      ucs2_characters: [],
    };
  }
  const units = chars.map((ch) => (ch.codePointAt(0) > 0xffff ? 2 : 1));
  return {
    encoding: "UCS-2",
    segments: countSegments(units, 70, 67),
    characters: units.reduce((a, b) => a + b, 0),
    ucs2_characters: offending,
  };
}

/** The SMS as residents get it (the reference is known once the draft exists). */
export function smsText(reference, message) {
  return `Burgerwacht ${reference}: ${message}`;
}

/** The closing message as residents get it. */
export function closingText(reference, message) {
  return `Burgerwacht ${reference} afgelopen: ${message}`;
}

/** A readable name for an invisible or look-alike character. */
export function describeChar(ch) {
  const cp = ch.codePointAt(0);
  const names = {
    0x2019: "’ (gekrulde apostrof)",
    0x2018: "‘ (gekrulde apostrof)",
    0x201c: "“ (gekruld aanhalingsteken)",
    0x201d: "” (gekruld aanhalingsteken)",
    0x2013: "– (en-streepje)",
    0x2014: "— (em-streepje)",
    0x2026: "… (beletselteken)",
    0x00a0: "harde spatie",
    0x200b: "onzichtbare spatie",
    0x09: "tab",
  };
  if (names[cp]) return names[cp];
  return `${ch} (U+${cp.toString(16).toUpperCase().padStart(4, "0")})`;
}
