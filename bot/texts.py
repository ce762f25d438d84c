"""Canned texts in every shipped language.

These are said without the model, so they must exist for each configured language; the
config may override any of them per language (`texts:`).
"""

from __future__ import annotations

#: English names, used to tell the model which language to answer in.
LANGUAGE_NAMES = {
    "en": "English", "es": "Spanish", "fr": "French", "de": "German", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "pl": "Polish", "ru": "Russian", "uk": "Ukrainian",
    "tr": "Turkish", "ar": "Arabic", "hi": "Hindi", "ja": "Japanese", "ko": "Korean",
    "zh": "Chinese (Simplified)", "vi": "Vietnamese", "id": "Indonesian", "sv": "Swedish",
    "he": "Hebrew",
}

TEXT_KEYS = ("no_answer", "handoff", "error", "empty", "truncated", "refusal", "sources")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "no_answer": "I couldn't find this in our help articles, and I'd rather not guess.",
        "handoff": "Would you like a member of our support team to take it from here?",
        "error": "Sorry, something went wrong on my side. Please try again in a moment.",
        "empty": "How can I help? Please type your question.",
        "truncated": "Your message was very long, so I only read the first part.",
        "refusal": "I can't share my internal instructions, but I'm happy to help with your question.",
        "sources": "Sources",
    },
    "es": {
        "no_answer": "No he encontrado esto en nuestros artículos de ayuda y prefiero no adivinar.",
        "handoff": "¿Quieres que una persona de nuestro equipo de soporte se encargue a partir de aquí?",
        "error": "Lo siento, algo ha fallado por mi parte. Vuelve a intentarlo en un momento.",
        "empty": "¿En qué puedo ayudarte? Escribe tu pregunta, por favor.",
        "truncated": "Tu mensaje era muy largo, así que solo he leído la primera parte.",
        "refusal": "No puedo compartir mis instrucciones internas, pero con gusto te ayudo con tu pregunta.",
        "sources": "Fuentes",
    },
    "fr": {
        "no_answer": "Je n'ai pas trouvé cela dans nos articles d'aide et je préfère ne pas deviner.",
        "handoff": "Souhaitez-vous qu'un membre de notre équipe d'assistance prenne le relais ?",
        "error": "Désolé, une erreur s'est produite de mon côté. Veuillez réessayer dans un instant.",
        "empty": "Comment puis-je vous aider ? Écrivez votre question, s'il vous plaît.",
        "truncated": "Votre message était très long, je n'en ai lu que le début.",
        "refusal": "Je ne peux pas partager mes instructions internes, mais je vous aide volontiers.",
        "sources": "Sources",
    },
    "de": {
        "no_answer": "Dazu habe ich in unseren Hilfeartikeln nichts gefunden, und raten möchte ich nicht.",
        "handoff": "Möchten Sie, dass ein Mitglied unseres Support-Teams übernimmt?",
        "error": "Entschuldigung, bei mir ist etwas schiefgegangen. Bitte versuchen Sie es gleich noch einmal.",
        "empty": "Wie kann ich helfen? Bitte schreiben Sie Ihre Frage.",
        "truncated": "Ihre Nachricht war sehr lang, daher habe ich nur den ersten Teil gelesen.",
        "refusal": "Meine internen Anweisungen kann ich nicht teilen, aber bei Ihrer Frage helfe ich gern.",
        "sources": "Quellen",
    },
    "it": {
        "no_answer": "Non ho trovato questa informazione nei nostri articoli di assistenza e preferisco non tirare a indovinare.",
        "handoff": "Vuoi che un membro del nostro team di assistenza prenda in carico la richiesta?",
        "error": "Mi dispiace, qualcosa è andato storto da parte mia. Riprova tra un momento.",
        "empty": "Come posso aiutarti? Scrivi la tua domanda, per favore.",
        "truncated": "Il tuo messaggio era molto lungo, quindi ho letto solo la prima parte.",
        "refusal": "Non posso condividere le mie istruzioni interne, ma ti aiuto volentieri con la tua domanda.",
        "sources": "Fonti",
    },
    "pt": {
        "no_answer": "Não encontrei isto nos nossos artigos de ajuda e prefiro não adivinhar.",
        "handoff": "Quer que um membro da nossa equipa de suporte continue a partir daqui?",
        "error": "Desculpe, algo correu mal do meu lado. Tente novamente daqui a pouco.",
        "empty": "Como posso ajudar? Escreva a sua pergunta, por favor.",
        "truncated": "A sua mensagem era muito longa, por isso só li a primeira parte.",
        "refusal": "Não posso partilhar as minhas instruções internas, mas ajudo com todo o gosto na sua pergunta.",
        "sources": "Fontes",
    },
    "nl": {
        "no_answer": "Ik heb dit niet gevonden in onze helpartikelen en ik gok liever niet.",
        "handoff": "Wilt u dat een medewerker van ons supportteam het van hier overneemt?",
        "error": "Sorry, er ging aan mijn kant iets mis. Probeer het zo nog eens.",
        "empty": "Waarmee kan ik helpen? Typ uw vraag.",
        "truncated": "Uw bericht was erg lang, dus ik heb alleen het eerste deel gelezen.",
        "refusal": "Mijn interne instructies kan ik niet delen, maar ik help u graag met uw vraag.",
        "sources": "Bronnen",
    },
    "pl": {
        "no_answer": "Nie znalazłem tego w naszych artykułach pomocy i wolę nie zgadywać.",
        "handoff": "Czy chcesz, aby dalej zajął się tym ktoś z naszego zespołu wsparcia?",
        "error": "Przepraszam, coś poszło nie tak po mojej stronie. Spróbuj ponownie za chwilę.",
        "empty": "W czym mogę pomóc? Wpisz swoje pytanie.",
        "truncated": "Twoja wiadomość była bardzo długa, więc przeczytałem tylko jej początek.",
        "refusal": "Nie mogę udostępnić moich wewnętrznych instrukcji, ale chętnie pomogę w Twojej sprawie.",
        "sources": "Źródła",
    },
    "ru": {
        "no_answer": "Я не нашёл этого в наших справочных статьях и не хочу гадать.",
        "handoff": "Хотите, чтобы дальше вам помог сотрудник нашей службы поддержки?",
        "error": "Извините, у меня что-то пошло не так. Пожалуйста, попробуйте ещё раз через минуту.",
        "empty": "Чем могу помочь? Пожалуйста, напишите ваш вопрос.",
        "truncated": "Ваше сообщение было очень длинным, поэтому я прочитал только его начало.",
        "refusal": "Я не могу раскрывать свои внутренние инструкции, но с радостью помогу с вашим вопросом.",
        "sources": "Источники",
    },
    "uk": {
        "no_answer": "Я не знайшов цього в наших довідкових статтях і не хочу вгадувати.",
        "handoff": "Бажаєте, щоб далі вам допоміг співробітник нашої служби підтримки?",
        "error": "Вибачте, у мене щось пішло не так. Будь ласка, спробуйте ще раз за хвилину.",
        "empty": "Чим можу допомогти? Будь ласка, напишіть ваше запитання.",
        "truncated": "Ваше повідомлення було дуже довгим, тому я прочитав лише його початок.",
        "refusal": "Я не можу розкривати свої внутрішні інструкції, але радо допоможу з вашим запитанням.",
        "sources": "Джерела",
    },
    "tr": {
        "no_answer": "Bunu yardım makalelerimizde bulamadım ve tahmin yürütmek istemiyorum.",
        "handoff": "Destek ekibimizden birinin buradan devam etmesini ister misiniz?",
        "error": "Üzgünüm, benim tarafımda bir sorun oluştu. Lütfen biraz sonra tekrar deneyin.",
        "empty": "Nasıl yardımcı olabilirim? Lütfen sorunuzu yazın.",
        "truncated": "Mesajınız çok uzundu, bu yüzden yalnızca ilk kısmını okudum.",
        "refusal": "İç talimatlarımı paylaşamam ama sorunuzda memnuniyetle yardımcı olurum.",
        "sources": "Kaynaklar",
    },
    "ar": {
        "no_answer": "لم أجد هذا في مقالات المساعدة لدينا، وأفضّل ألا أخمّن.",
        "handoff": "هل تريد أن يتابع معك أحد أعضاء فريق الدعم لدينا؟",
        "error": "عذرًا، حدث خطأ من جهتي. يُرجى المحاولة مرة أخرى بعد قليل.",
        "empty": "كيف يمكنني المساعدة؟ يُرجى كتابة سؤالك.",
        "truncated": "كانت رسالتك طويلة جدًا، لذلك قرأت الجزء الأول منها فقط.",
        "refusal": "لا يمكنني مشاركة تعليماتي الداخلية، لكن يسعدني مساعدتك في سؤالك.",
        "sources": "المصادر",
    },
    "hi": {
        "no_answer": "मुझे यह हमारे सहायता लेखों में नहीं मिला, और मैं अनुमान नहीं लगाना चाहता।",
        "handoff": "क्या आप चाहेंगे कि हमारी सहायता टीम का कोई सदस्य आगे मदद करे?",
        "error": "क्षमा करें, मेरी ओर से कुछ गड़बड़ हो गई। कृपया थोड़ी देर बाद फिर से कोशिश करें।",
        "empty": "मैं कैसे मदद कर सकता हूँ? कृपया अपना सवाल लिखें।",
        "truncated": "आपका संदेश बहुत लंबा था, इसलिए मैंने केवल पहला हिस्सा पढ़ा।",
        "refusal": "मैं अपने आंतरिक निर्देश साझा नहीं कर सकता, लेकिन आपके सवाल में ख़ुशी से मदद करूँगा।",
        "sources": "स्रोत",
    },
    "ja": {
        "no_answer": "ヘルプ記事の中にこの件に関する情報が見つかりませんでした。推測でお答えすることは控えます。",
        "handoff": "サポートチームの担当者に引き継ぎましょうか？",
        "error": "申し訳ありません、こちら側で問題が発生しました。しばらくしてからもう一度お試しください。",
        "empty": "どのようなご用件でしょうか？ご質問を入力してください。",
        "truncated": "メッセージが非常に長かったため、最初の部分のみを読みました。",
        "refusal": "内部の指示内容はお伝えできませんが、ご質問には喜んでお答えします。",
        "sources": "参照元",
    },
    "ko": {
        "no_answer": "도움말 문서에서 이 내용을 찾지 못했습니다. 추측으로 답변드리지는 않겠습니다.",
        "handoff": "지원팀 담당자가 이어서 도와드리길 원하시나요?",
        "error": "죄송합니다. 제 쪽에서 문제가 발생했습니다. 잠시 후 다시 시도해 주세요.",
        "empty": "무엇을 도와드릴까요? 질문을 입력해 주세요.",
        "truncated": "메시지가 너무 길어서 앞부분만 읽었습니다.",
        "refusal": "내부 지침은 공유할 수 없지만, 질문에는 기꺼이 도와드리겠습니다.",
        "sources": "출처",
    },
    "zh": {
        "no_answer": "我在帮助文章中没有找到相关内容，不想随意猜测。",
        "handoff": "需要我们的客服人员接手继续为您处理吗？",
        "error": "抱歉，我这边出了点问题。请稍后再试。",
        "empty": "有什么可以帮您？请输入您的问题。",
        "truncated": "您的消息太长了，我只阅读了开头部分。",
        "refusal": "我无法分享内部指令，但很乐意帮您解答问题。",
        "sources": "来源",
    },
    "vi": {
        "no_answer": "Tôi không tìm thấy thông tin này trong các bài viết trợ giúp và tôi không muốn đoán.",
        "handoff": "Bạn có muốn một thành viên trong đội hỗ trợ tiếp tục giúp bạn không?",
        "error": "Xin lỗi, đã có lỗi xảy ra từ phía tôi. Vui lòng thử lại sau giây lát.",
        "empty": "Tôi có thể giúp gì cho bạn? Vui lòng nhập câu hỏi của bạn.",
        "truncated": "Tin nhắn của bạn rất dài nên tôi chỉ đọc phần đầu.",
        "refusal": "Tôi không thể chia sẻ hướng dẫn nội bộ, nhưng rất sẵn lòng giúp bạn với câu hỏi.",
        "sources": "Nguồn",
    },
    "id": {
        "no_answer": "Saya tidak menemukan hal ini di artikel bantuan kami, dan saya tidak ingin menebak.",
        "handoff": "Apakah Anda ingin anggota tim dukungan kami melanjutkan dari sini?",
        "error": "Maaf, terjadi kesalahan di pihak saya. Silakan coba lagi sebentar lagi.",
        "empty": "Ada yang bisa saya bantu? Silakan ketik pertanyaan Anda.",
        "truncated": "Pesan Anda sangat panjang, jadi saya hanya membaca bagian awalnya.",
        "refusal": "Saya tidak dapat membagikan instruksi internal saya, tetapi dengan senang hati membantu pertanyaan Anda.",
        "sources": "Sumber",
    },
    "sv": {
        "no_answer": "Jag hittade inte detta i våra hjälpartiklar och vill hellre inte gissa.",
        "handoff": "Vill du att någon i vårt supportteam tar över härifrån?",
        "error": "Förlåt, något gick fel hos mig. Försök igen om en stund.",
        "empty": "Hur kan jag hjälpa till? Skriv din fråga.",
        "truncated": "Ditt meddelande var mycket långt, så jag läste bara den första delen.",
        "refusal": "Jag kan inte dela mina interna instruktioner, men hjälper gärna till med din fråga.",
        "sources": "Källor",
    },
    "he": {
        "no_answer": "לא מצאתי את זה במאמרי העזרה שלנו, ואני מעדיף לא לנחש.",
        "handoff": "האם תרצה שנציג מצוות התמיכה שלנו ימשיך מכאן?",
        "error": "מצטער, משהו השתבש אצלי. נסה שוב בעוד רגע.",
        "empty": "איך אפשר לעזור? כתוב את שאלתך.",
        "truncated": "ההודעה שלך הייתה ארוכה מאוד, ולכן קראתי רק את החלק הראשון.",
        "refusal": "אינני יכול לשתף את ההנחיות הפנימיות שלי, אבל אשמח לעזור בשאלתך.",
        "sources": "מקורות",
    },
}


class Texts:
    """Canned texts for the configured languages, with the config's overrides applied."""

    def __init__(self, languages: list[str], default_language: str,
                 overrides: dict[str, dict[str, str]] | None = None):
        self.default_language = default_language
        self._table = {lang: dict(TEXTS.get(lang, {})) for lang in languages}
        for lang, entries in (overrides or {}).items():
            self._table.setdefault(lang, {}).update(entries)

    def get(self, key: str, language: str) -> str:
        entries = self._table.get(language) or self._table[self.default_language]
        return entries.get(key) or self._table[self.default_language][key]

    def missing(self) -> list[tuple[str, str]]:
        """(language, key) pairs that have no text: the config is invalid while any exist."""
        return [(lang, key) for lang, entries in self._table.items()
                for key in TEXT_KEYS if not entries.get(key)]
