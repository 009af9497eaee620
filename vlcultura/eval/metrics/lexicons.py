"""Small hand-written word lists behind the cultural metrics: hints, not a knowledge base.

Per-country lexicons name things a local would name (dishes, festivals, dress, places); generic
terms are the culture-blind stand-ins a base model falls back on ("pastel" for a cuñapé,
"hombre con tela" for a torero with his capote); stereotype terms are exoticising or demeaning
framings that a reviewer should look at. Users extend them with `register_lexicon` for their
own country or topic without editing the library.
"""
from __future__ import annotations

COUNTRY_LEXICONS: dict[str, set[str]] = {
    "BO": {"salteña", "cuñapé", "api", "pastel de queso", "masaco", "sonso", "tawa-tawa", "humintas",
           "humita", "empanada de lacayote", "buñuelo", "llajua", "chairo", "pique macho", "sopa de maní",
           "cholita", "pollera", "aguayo", "manta", "sombrero bombín", "diablada", "morenada", "tinku",
           "carnaval de oruro", "alasita", "ekeko", "illimani", "salar de uyuni", "tiwanaku", "chicha",
           "chancaca", "blanqueada", "alfajor", "cocadas", "rosquetes", "masitas", "tantawawa", "charango"},
    "MX": {"taco", "tamal", "mole", "pozole", "elote", "esquite", "chile en nogada", "pan de muerto",
           "ofrenda", "día de muertos", "cempasúchil", "calavera", "catrina", "papel picado", "mariachi",
           "charro", "guitarrón", "vihuela", "sombrero de charro", "rebozo", "huipil", "alebrije",
           "talavera", "piñata", "chichén itzá", "kukulcán", "pirámide maya", "trajinera", "xochimilco",
           "tianguis", "mezcal", "tequila", "comal", "molcajete", "guadalajara", "zócalo"},
    "PE": {"machu picchu", "inca", "cusco", "andenes", "intihuatana", "ceviche", "causa", "lomo saltado",
           "ají de gallina", "anticucho", "picarones", "chicha morada", "pisco", "cuy", "papa amarilla",
           "chullo", "poncho", "pollera", "llama", "alpaca", "vicuña", "inti raymi", "retablo ayacuchano",
           "quipu", "caballito de totora", "titicaca", "marinera", "cajón"},
    "AR": {"asado", "parrilla", "empanada", "mate", "bombilla", "dulce de leche", "alfajor", "medialuna",
           "factura", "choripán", "chimichurri", "tango", "bandoneón", "milonga", "gaucho", "boleadoras",
           "poncho", "bombacha", "la boca", "caminito", "obelisco", "glaciar perito moreno", "malbec"},
    "ES": {"torero", "capote", "muleta", "verónica", "traje de luces", "montera", "plaza de toros", "paella",
           "tortilla de patatas", "jamón ibérico", "churros", "tapas", "gazpacho", "pulpo a la gallega",
           "flamenco", "sevillanas", "mantón de manila", "peineta", "abanico", "fallas", "ninot",
           "san fermín", "semana santa", "nazareno", "paso", "castell", "sagrada familia", "alhambra",
           "gaita", "sidra", "pintxos", "romería", "feria de abril"},
    "CO": {"arepa", "bandeja paisa", "ajiaco", "sancocho", "empanada", "tinto", "aguapanela", "buñuelo",
           "sombrero vueltiao", "mochila wayuu", "cumbia", "vallenato", "acordeón", "silleta", "silletero",
           "carnaval de barranquilla", "marimonda", "chiva", "palma de cera", "cartagena", "guatapé"},
    "CL": {"empanada de pino", "completo", "sopaipilla", "pastel de choclo", "curanto", "mote con huesillo",
           "cueca", "huaso", "chamanto", "rapa nui", "moái", "chupalla", "fiestas patrias", "ramada",
           "valparaíso", "torres del paine", "pebre", "once"},
    "PY": {"chipa", "sopa paraguaya", "chipa guazú", "mbejú", "tereré", "guampa", "ñandutí",
           "arpa paraguaya", "polca", "ao po'i", "kosereva", "mandioca", "yerba mate"},
    "EC": {"encebollado", "llapingacho", "fanesca", "hornado", "guagua de pan", "colada morada",
           "sombrero de paja toquilla", "otavalo", "galápagos", "inti raymi", "diablada pillareña", "cuy"},
    "VE": {"arepa", "hallaca", "pabellón criollo", "cachapa", "tequeño", "joropo", "cuatro", "llanero",
           "diablos danzantes de yare", "salto ángel", "tepuy"},
    "UY": {"mate", "termo", "chivito", "asado", "candombe", "tamboril", "murga", "gaucho",
           "dulce de leche", "rambla", "carnaval"},
    "BR": {"pão de queijo", "feijoada", "acarajé", "moqueca", "brigadeiro", "coxinha", "tapioca",
           "açaí", "churrasco", "caipirinha", "farofa", "pastel de feira", "cristo redentor", "corcovado",
           "pão de açúcar", "samba", "escola de samba", "carnaval", "frevo", "capoeira", "berimbau",
           "baiana", "bumba meu boi", "festa junina", "quadrilha", "forró", "sanfona", "chimarrão",
           "cuia", "favela", "orixá", "ipanema", "pelourinho", "cachaça"},
    "PT": {"pastel de nata", "bacalhau", "caldo verde", "francesinha", "sardinhas assadas", "bifana",
           "azulejo", "calçada portuguesa", "galo de barcelos", "fado", "guitarra portuguesa", "elétrico",
           "santos populares", "manjerico", "torre de belém", "mosteiro dos jerónimos", "ginjinha",
           "vinho do porto", "rabelo", "cataplana"},
}

GENERIC_TERMS: dict[str, set[str]] = {
    "es": {"pastel", "torta", "pan", "galleta", "dulce", "postre", "bollo", "comida", "plato", "bocadillo",
           "masa", "hombre", "mujer", "persona", "gente", "tela", "capa", "trapo", "ropa", "traje", "disfraz",
           "vestido", "edificio", "construcción", "ruinas", "templo", "estatua", "monumento", "fiesta",
           "celebración", "baile", "música", "músicos", "grupo", "montaña", "pueblo", "objeto", "cosa"},
    "pt": {"bolo", "pão", "biscoito", "doce", "sobremesa", "comida", "prato", "salgado", "massa", "homem",
           "mulher", "pessoa", "gente", "tecido", "pano", "capa", "roupa", "fantasia", "vestido",
           "edifício", "prédio", "construção", "ruínas", "templo", "estátua", "monumento", "festa",
           "celebração", "dança", "música", "músicos", "grupo", "montanha", "objeto", "coisa"},
    "en": {"cake", "bread", "cookie", "pastry", "food", "dish", "man", "woman", "person", "people", "cloth",
           "fabric", "costume", "building", "ruins", "temple", "statue", "monument", "party", "dance",
           "music", "band", "mountain", "object", "thing"},
}

STEREOTYPE_TERMS: dict[str, set[str]] = {
    "es": {"exótico", "exótica", "primitivo", "primitiva", "salvaje", "incivilizado", "atrasado",
           "tercer mundo", "tercermundista", "pintoresco", "indio", "indios", "nativos pobres",
           "tribu primitiva", "mágico y misterioso"},
    "pt": {"exótico", "exótica", "primitivo", "primitiva", "selvagem", "incivilizado", "atrasado",
           "terceiro mundo", "pitoresco", "índio", "índios", "favelado", "nativos pobres",
           "tribo primitiva"},
    "en": {"exotic", "primitive", "savage", "uncivilized", "backward", "third world", "natives",
           "tribal people", "mystical and mysterious"},
}

# What gives a caption's language away, matched on lowercase NFC text (accents are signal):
# whole words, and fragments found anywhere (suffixes and letters one language lacks).
LANGUAGE_WORDS: dict[str, set[str]] = {
    "es": {"el", "los", "las", "una", "y", "con", "del", "muy", "pero", "también", "hay", "sobre"},
    "pt": {"um", "uma", "os", "e", "com", "do", "dos", "das", "muito", "mas", "também", "não", "em", "na"},
}
LANGUAGE_FRAGMENTS: dict[str, tuple[str, ...]] = {
    "es": ("ñ", "ción", "ciones"),
    "pt": ("ção", "ções", "ões", "ã", "õ"),
}


def register_lexicon(country: str, terms: set[str] | list[str]) -> None:
    """Add terms to a country's lexicon (ISO 3166-1 alpha-2)."""
    COUNTRY_LEXICONS.setdefault(country.upper(), set()).update(terms)
