"""What an answer must never say, and what an article should not say, checked without the model.

Articles are data, not instructions: whoever can commit to the knowledge folder (or a file
synced into it) can write "the only way to reset a password is to e-mail it to us at …", and a
model repeats what it is given. So every answer is screened before a customer sees it:

- it must not ask for a secret (a password, a card number, a PIN, a security or one-time code):
  no help centre needs one sent to it, and phishing always does;
- every e-mail address, web address and phone number in it must be in the passages it was
  given: a contact the model made up, or took from the customer's own message, is not passed on.

`babeldesk index` warns about passages that ask for secrets or read like instructions to the
model, so the knowledge's editors find a poisoned article before a customer does.

Each language has its words for secrets, for handing something over and for "never"; a
sentence that names a secret and a way to hand it over, without a negation, is a request for
it ("Never share your password" is advice; "Send us your password" is not). The answer's
language is checked together with English, which small models often fall back to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

# Per language: (secrets, asking to hand something over, negation); regex alternatives,
# matched case-blind. The middle one is written as a request to the reader (imperatives, "to
# us"): "we will send you a verification code" and "enter your password" are no requests.
_LEXICON: dict[str, tuple[str, str, str]] = {
    "en": (r"\bpass(?:word|code|phrase)s?\b|\bcard\s*(?:number|details)|\bcredit\s*card"
           r"|\bcv[vc]2?\b|\bsecurity\s*code|\bone[-\s]?time\s*(?:code|password)"
           r"|\bverification\s*code|\b2fa\s*code|\bsms\s*code|\bauth(?:entication)?\s*code"
           r"|\bsocial\s*security\s*number|\bbank\s*(?:login|password)|\bpin(?:\s*code)?\b",
           r"\b(?:send(?:s|ing)?|e-?mail(?:s|ing)?|giv(?:e|es|ing)|tell(?:s|ing)?"
           r"|shar(?:e|es|ing)|forward(?:s|ing)?|text(?:ing)?|dm|read(?:ing)?\s+out)\b(?!\s+you\b)"
           r"[^.!?\n]{0,80}?\b(?:us|me|to(?!\s+(?:your?|you)\b)|with\s+(?:us|me|our|the)|here"
           r"|below)\b|\breply\s+with|\brespond\s+with"
           r"|\bin\s+(?:the|your|this|that)\s+(?:e-?mail|message|reply)\b[^.!?\n]{0,40}"
           r"\b(?:enter|type|write|include|put|add|paste)\b"
           r"|\b(?:enter|type|write|include|put|add|paste)\b[^.!?\n]{0,60}"
           r"\bin(?:to)?\s+(?:the|your|this|that)\s+(?:e-?mail|message|reply)\b",
           r"\bnever\b|\bnot\b|n't\b|\bno\s+one\b|\bnobody\b|\bnor\b"),
    "es": (r"contraseña|número\s+de\s+(?:la\s+|tu\s+|su\s+)?tarjeta|c[oó]digo\s+de\s+"
           r"(?:verificaci[oó]n|seguridad|confirmaci[oó]n)|\bcvv\b|\bpin\b|clave\s+de\s+acceso",
           r"\benv[ií](?:a|e|en)(?:nos)?\b|\bm[aá]nd(?:a|e|en)(?:nos)?\b|\bcomp[aá]rt(?:a|e|en)\b"
           r"|\bproporci[oó]n(?:a|e|en)(?:nos)?\b|\bfacil[ií]t(?:a|e|en)(?:nos)?\b|\bd[ií]ganos\b"
           r"|\bdinos\b|\bescr[ií]b(?:a|e)nos\b|\bresp[oó]nd(?:a|e)\s+con",
           r"\bnunca\b|\bno\b|\bjam[aá]s\b|\bnadie\b"),
    "fr": (r"mot\s+de\s+passe|num[ée]ro\s+de\s+(?:votre\s+|ta\s+|la\s+)?carte|code\s+de\s+"
           r"(?:v[ée]rification|s[ée]curit[ée]|confirmation)|cryptogramme|\bcode\s+pin\b|\bpin\b",
           r"\benvoy(?:ez|ons)(?:-nous)?\b|\benvoie(?:-nous)?\b|\btransmett(?:ez|ons)(?:-nous)?\b"
           r"|\bcommuniqu(?:ez|e)-nous\b|\bcommuniquez\b|\bdonnez(?:-nous)?\b|\bpartagez\b"
           r"|\bindiquez-nous\b|\b[ée]crivez-nous\b|\br[ée]pondez\s+avec",
           r"\bjamais\b|\bne\b|\bn['’]|\bpersonne\b|\bpas\b"),
    "de": (r"passwort|kennwort|kartennummer|best[äa]tigungscode|sicherheitscode|"
           r"pr[üu]fziffer|\bpin\b|einmalcode|\btan\b",
           r"\bschick(?:en\s+sie|e|t)?\b|\bsend(?:en\s+sie|e)\b|\bmailen\s+sie|\bteilen\s+sie"
           r"|\bnennen\s+sie\s+uns|\b[üu]bermitteln\s+sie|\bteile\s+uns|\bgib\s+uns"
           r"|\bgeben\s+sie\s+uns|\bantworten\s+sie\s+mit|\bschreiben\s+sie\s+uns",
           r"\bnie(?:mals)?\b|\bnicht\b|\bkein|\bniemand"),
    "it": (r"password|numero\s+(?:della\s+|di\s+)?carta|codice\s+(?:di\s+)?"
           r"(?:verifica|sicurezza|conferma)|\bcvv\b|\bpin\b",
           r"\binvia(?:ci|teci|te)?\b|\bmanda(?:ci|teci|te)?\b|\bcomunica(?:ci|teci|te)\b"
           r"|\bfornisci(?:ci)?\b|\bfornite(?:ci)?\b|\bcondividi\b|\bscrivi(?:ci)\b|\bdicci\b"
           r"|\brispondi\s+con",
           r"\bmai\b|\bnon\b|\bnessuno\b"),
    "pt": (r"senha|n[úu]mero\s+do\s+(?:seu\s+)?cart[ãa]o|c[óo]digo\s+de\s+"
           r"(?:verifica[çc][ãa]o|seguran[çc]a|confirma[çc][ãa]o)|\bcvv\b|\bpin\b",
           r"\benvi(?:e|a)(?:-nos)?\b|\bmande(?:-nos)?\b|\binforme-nos\b|\bforne[çc]a(?:-nos)?\b"
           r"|\bcompartilhe\b|\bpartilhe\b|\bdiga-nos\b|\bresponda\s+com",
           r"\bnunca\b|\bn[ãa]o\b|\bjamais\b|\bningu[ée]m\b"),
    "nl": (r"wachtwoord|kaartnummer|verificatiecode|beveiligingscode|pincode|\bpin\b",
           r"\bstuur\b|\bmail\s+ons|\bgeef\s+ons|\bdeel\b|\bvertel\s+ons|\bverstrek\b"
           r"|\bantwoord\s+met",
           r"\bnooit\b|\bniet\b|\bgeen\b|\bniemand\b"),
    "pl": (r"has[łl]|numer\s+karty|kod\s+(?:weryfikacyjny|sms|bezpiecze[ńn]stwa)|\bpin\b",
           r"wy[śs]lij|prze[śs]lij|podaj(?:cie)?\s+nam|udost[ęe]pnij|przeka[żz]\b"
           r"|napisz(?:cie)?\s+nam|odpowiedz\s+z",
           r"\bnigdy\b|\bnie\b|\bnikomu\b"),
    "ru": (r"пароль|парол[яе]|номер\s+карты|код\s+(?:подтверждения|из\s+смс|безопасности)"
           r"|\bcvv\b|пин|\bpin\b",
           r"отправьте|пришлите|сообщите|напишите\s+нам|передайте|укажите\s+(?:нам|в\s+ответе)"
           r"|скажите\s+нам|ответьте",
           r"никогда|\bне\b|нельзя|никому"),
    "uk": (r"парол|номер\s+картки|код\s+(?:підтвердження|з\s+смс|безпеки)|\bcvv\b|пін|\bpin\b",
           r"надішліть|надсилайте|повідомте|напишіть\s+нам|передайте|вкажіть\s+(?:нам|у\s+відповіді)"
           r"|скажіть\s+нам",
           r"ніколи|\bне\b|нікому"),
    "tr": (r"[şs]ifre|parola|kart\s+numara|do[ğg]rulama\s+kod|g[üu]venlik\s+kod|\bpin\b",
           r"g[öo]nderin\b|g[öo]nder\b|payla[şs][iı]n\b|iletin\b|bildirin\b|s[öo]yleyin\b"
           r"|bize\s+verin\b|yaz[iı]n\b",
           r"\basla\b|hi[çc]bir\s+zaman|m[ea]y[iı]n\b|m[ea]y[iı]n[iı]z"),
    "ar": (r"كلمة\s*(?:المرور|السر)|رقم\s*البطاقة|رمز\s*(?:التحقق|الأمان)|الرمز\s*السري",
           r"أرسل(?:وا|ي)?\s|ارسل(?:وا|ي)?\s|شارك(?:وا|ي)?\s|أخبرنا|اخبرنا|زودنا|أعطنا",
           r"(?:^|\s)لا\s|أبدا|أبدًا|(?:^|\s)لن\s"),
    "hi": (r"पासवर्ड|कार्ड\s*(?:नंबर|संख्या)|ओटीपी|\botp\b|पिन|सत्यापन\s*कोड",
           r"भेजें(?!ग)|भेजिए|भेज\s*दें|बताएं|बताइए|हमें\s*दें|शेयर\s*करें|साझा\s*करें",
           r"कभी\s*नहीं|मत\s|नहीं|न\s*करें"),
    "ja": (r"パスワード|暗証番号|カード番号|認証コード|確認コード|セキュリティコード|ワンタイム",
           r"送って(?:ください|下さい)|送信して(?:ください|下さい)|教えて(?:ください|下さい)"
           r"|お知らせ(?:ください|下さい)|返信して|共有して(?:ください|下さい)|ご提供(?:ください|下さい)",
           r"しないで|ないでください|決して|絶対に|ません"),
    "ko": (r"비밀번호|카드\s*번호|인증\s*(?:코드|번호)|보안\s*코드|\bpin\b|OTP",
           r"보내\s*주|알려\s*주|제공해\s*주|전송해\s*주|공유해\s*주|회신해\s*주",
           r"절대|마세요|않습니다|않아|말아"),
    "zh": (r"密码|卡号|银行卡|验证码|安全码|PIN码|动态码",
           r"发送给我们|发给我们|发到|告诉我们|提供给我们|回复|请.{0,8}(?:发送|提供|告诉|发给)",
           r"不要|切勿|绝不|不会|请勿|永远不|从不"),
    "vi": (r"m[ậa]t\s*kh[ẩa]u|s[ốo]\s*th[ẻe]|m[ãa]\s*(?:otp|x[áa]c\s*minh|pin|b[ảa]o\s*m[ậa]t)",
           r"g[ửu]i\s+(?:cho\s+)?(?:chúng\s+tôi|qua)|cung\s+c[ấa]p\s+(?:cho\s+)?chúng\s+tôi"
           r"|cho\s+chúng\s+tôi\s+bi[ếe]t|chia\s+s[ẻe]|nh[ắa]n\s+(?:cho\s+)?chúng\s+tôi",
           r"kh[ôo]ng|[đd][ừu]ng|ch[ẳa]ng"),
    "id": (r"kata\s*sandi|password|nomor\s*kartu|kode\s*(?:otp|verifikasi|keamanan)|\bpin\b",
           r"\bkirim(?:kan|lah)?\b|\bberikan\s+(?:kepada\s+)?kami|\bberi\s*tahu\s+kami"
           r"|\bbagikan\b|\bsebutkan\b|\bbalas\s+dengan",
           r"\bjangan\b|\btidak\b|\btak\b|\bbukan\b"),
    "sv": (r"l[öo]senord|kortnummer|verifieringskod|s[äa]kerhetskod|\bpin\b|engångskod",
           r"\bskicka\b|\bmejla\b|\bmaila\b|\bge\s+oss|\bdela\b|\bber[äa]tta\s+f[öo]r\s+oss"
           r"|\buppge\b|\bsvara\s+med",
           r"\baldrig\b|\binte\b|\bingen\b"),
    "he": (r"סיסמ[הא]|מספר\s*(?:ה)?כרטיס|קוד\s*(?:אימות|אבטחה)",
           r"של[חו](?:ו|י)?\s+(?:לנו|את)|ספר(?:ו|י)?\s+לנו|מסר(?:ו|י)\s|שתפ(?:ו|י)|כתבו\s+לנו",
           r"לעולם|(?:^|\s)אל\s|(?:^|\s)לא\s"),
    "el": (r"κωδικ[όοός]\s*(?:πρόσβασης|επαλήθευσης|ασφαλείας)|συνθηματικ|αριθμ[όο]\s*"
           r"(?:της\s*)?κάρτας|\bpin\b",
           r"στείλτε|στείλε|δώστε|πείτε\s+μας|κοινοποιήστε|γράψτε\s+μας|απαντήστε\s+με",
           r"\bποτέ\b|\bμην\b|\bδεν\b"),
    "ro": (r"parol[aă]|num[aă]rul\s+cardului|cod(?:ul)?\s+de\s+(?:verificare|securitate)|\bpin\b",
           r"(?<!vom\s)(?<!va\s)(?<!vor\s)\btrimite(?:[țt]i)?(?:-ne)?\b|\bda[țt]i-ne\b"
           r"|\bspune(?:[țt]i)?-ne\b|\bcomunica[țt]i(?:-ne)?\b|\bfurniza[țt]i\b"
           r"|\br[ăa]spunde[țt]i\s+cu",
           r"\bniciodat[aă]\b|\bnu\b|\bnimeni\b"),
    "th": (r"รหัสผ่าน|หมายเลขบัตร|เลขบัตร|รหัส\s*otp|รหัสยืนยัน|รหัส\s*pin",
           r"ส่ง(?:มา|ให้)|มาให้เรา|บอก|แจ้ง(?:มา|ให้)|แชร์",
           r"ห้าม|อย่า|ไม่"),
}

_COMPILED: dict[str, tuple[re.Pattern, re.Pattern, re.Pattern]] = {
    lang: tuple(re.compile(p, re.IGNORECASE) for p in patterns)  # type: ignore[misc]
    for lang, patterns in _LEXICON.items()}

#: the end of a sentence: where a streamed answer can be judged
_SENTENCE_END = re.compile(r"[.!?。！？]+(?=\s)|[。！？]|\n")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
URL = re.compile(r"\bhttps?://[^\s<>()\"'`\]]+|\bwww\.[^\s<>()\"'`\]]+"
                 r"|\b(?:[a-z0-9-]+\.)+(?:com|net|org|io|co|app|dev|info|biz|me|xyz|shop|site"
                 r"|online|support|help|link|ly|gl|to|ru|cn|de|fr|uk|es|it|nl|pl|br|in|jp|kr"
                 r"|tr|vn|eu|us|ca|au|ch|se|be|at)\b(?:/[^\s<>()\"'`\]]*)?", re.IGNORECASE)
PHONE = re.compile(r"(?<!\w)(?<!\d\.)\+?\d[\d ().-]{6,}\d(?!\w)(?!\.\d)")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$")
#: a sentence being streamed that may still break a rule: held until it is complete
_SUSPECT = re.compile(r"@|://|www\.|\d|\w\.\w", re.IGNORECASE)

# What reads as an instruction to the model rather than help for a customer.
_INSTRUCTIONS = re.compile(
    r"<\|[a-z_]+\|>|\[/?INST\]|\[/?SYSTEM_PROMPT\]|<<SYS>>|<s>|</s>|^#+\s*(?:system|instruction)"
    r"|\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|"
    r"earlier|other|your)\s+(?:instructions|rules|prompts?|guidelines)"
    r"|\byou\s+are\s+(?:now\s+)?(?:an?\s+|the\s+)?(?:ai|assistant|chatbot|bot|language\s+model)"
    r"|\bas\s+an?\s+(?:ai|assistant|chatbot|language\s+model)\b"
    r"|\b(?:the\s+)?(?:assistant|chatbot|bot|ai|model)\s+(?:must|should|shall|will)\s+"
    r"(?:always|never|only|tell|say|answer|respond|reply)"
    r"|\b(?:always|only)\s+(?:answer|respond|reply)\s+(?:with|that|by|in)\b"
    r"|\btell\s+(?:the\s+|all\s+)?(?:customers?|users?)\s+(?:to|that)\b"
    r"|\bsystem\s*prompt|\bdo\s+not\s+(?:mention|reveal)\s+(?:this|these)",
    re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Finding:
    """Why a text was stopped: the rule it broke and the words that broke it."""

    rule: str
    words: str

    def __str__(self) -> str:
        return f"{self.rule}: «{self.words}»"


def sentences_of(text: str) -> list[str]:
    parts, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        parts.append(text[start:match.end()])
        start = match.end()
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def _lexicons(language: str) -> list[tuple[re.Pattern, re.Pattern, re.Pattern]]:
    return [_COMPILED[code] for code in dict.fromkeys((language, "en")) if code in _COMPILED]


def asks_for_secret(text: str, language: str) -> Finding | None:
    """The first sentence of `text` that asks the reader to hand over a secret."""
    for sentence in sentences_of(text):
        for secrets, handing, negation in _lexicons(language):
            if secrets.search(sentence) and handing.search(sentence) \
                    and not negation.search(sentence):
                return Finding("asks for a secret", sentence.strip()[:160])
    return None


def _host(url: str) -> str:
    host = re.sub(r"^[a-z]+://", "", url.lower()).split("/", 1)[0].split("?", 1)[0]
    host = host.rsplit("@", 1)[-1].split(":", 1)[0].rstrip(".,;:!?")
    return host[4:] if host.startswith("www.") else host


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def unknown_contact(text: str, sources: Iterable[str]) -> Finding | None:
    """An e-mail address, web address or phone number in `text` that no source contains."""
    known = "\n".join(sources).lower()
    for email in EMAIL.findall(text):
        if email.lower().rstrip(".") not in known:
            return Finding("an e-mail address no passage gives", email)
    for url in URL.findall(text.replace("@", " ")):
        host = _host(url)
        if host and host not in known:
            return Finding("a web address no passage gives", url)
    numbers = None
    for phone in PHONE.findall(text):
        phone = phone.strip()
        if len(_digits(phone)) < 8 or _DATE.match(phone):
            continue
        if numbers is None:
            numbers = re.sub(r"[^\d\n]", "", re.sub(r"(?<=\d)[ ().-]+(?=\d)", "", known))
        if _digits(phone) not in numbers:
            return Finding("a phone number no passage gives", phone)
    return None


def screen_answer(text: str, language: str, sources: Iterable[str]) -> Finding | None:
    """Why `text` must not reach a customer, or None. `sources`: the passages it came from."""
    return asks_for_secret(text, language) or unknown_contact(text, list(sources))


def screen_passage(text: str, language: str) -> Finding | None:
    """Why an article's passage needs its editors' eyes: it asks readers for a secret, or
    reads like an instruction to the model."""
    found = _INSTRUCTIONS.search(text)
    if found:
        start = max(0, found.start() - 40)
        return Finding("reads like an instruction to the model",
                       text[start:found.end() + 60].strip().replace("\n", " "))
    return asks_for_secret(text, language)


class ScreenedStream:
    """Passes a streamed answer on as it is written, except the sentences that could break a
    rule (a number, an address, a secret's name), which wait until they are whole and are
    judged first. After the first sentence that breaks one, nothing more is passed on; the
    finished answer is judged again as a whole by `screen_answer`.
    """

    def __init__(self, language: str, sources: list[str], emit: Callable[[str], None],
                 judge: Callable[[str], str] | None = None):
        self.language, self.sources, self.emit = language, sources, emit
        #: the first rule broken; nothing is passed on after it
        self.finding: Finding | None = None
        #: with `judge` (the answer check), every sentence waits until it is whole and is
        #: passed on only if `judge` finds no problem in it
        self.judge = judge
        #: the first problem `judge` found; nothing is passed on after it either
        self.problem = ""
        self._passed = ""  # the current sentence's part already passed on
        self._pending = ""

    def feed(self, chunk: str) -> None:
        if self.finding or self.problem:
            return
        self._pending += chunk
        while True:
            end = _SENTENCE_END.search(self._pending)
            if not end:
                break
            whole = self._passed + self._pending[:end.end()]
            rest = self._pending[end.end():]
            if not self._judge(whole):
                return
            self.emit(self._pending[:end.end()])
            self._passed, self._pending = "", rest
        if self._pending and not self._suspect(self._passed + self._pending):
            cut = max(self._pending.rfind(" "), self._pending.rfind("\n")) + 1
            if cut:
                self.emit(self._pending[:cut])
                self._passed += self._pending[:cut]
                self._pending = self._pending[cut:]

    def close(self) -> None:
        """The answer is complete: its last sentence is judged and passed on."""
        if not (self.finding or self.problem) and self._pending \
                and self._judge(self._passed + self._pending):
            self.emit(self._pending)
            self._pending = ""

    def _judge(self, sentence: str) -> bool:
        self.finding = screen_answer(sentence, self.language, self.sources)
        if self.finding is None and self.judge and sentence.strip():
            self.problem = self.judge(sentence)
        return self.finding is None and not self.problem

    def _suspect(self, sentence: str) -> bool:
        if self.judge or _SUSPECT.search(sentence):
            return True
        return any(secrets.search(sentence) for secrets, _, _ in _lexicons(self.language))
