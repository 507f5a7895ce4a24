"""Finding the photos under a path, and reading a category from the folders they sit in.

People often sort their photos already: ``tops/``, ``Jeans/``, ``Schuhe/``, ``robes/``. A folder
whose name (or a word of it) is a garment word in English, German, French, Spanish, Italian or
Dutch gives its photos that category.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from stylist.domain import Category
from stylist.library.photos import IMAGE_SUFFIXES
from stylist.paths import DATABASE_NAME

LIBRARY_SKIPPED = (
    "a Stylist library's folder: its photos are in that library already (photos in its "
    "lost+found/ come back with `stylist check --adopt`)"
)

_WORDS = {
    Category.TOP: """
        top tops shirt shirts tshirt tshirts tee tees blouse blouses sweater sweaters jumper jumpers
        hoodie hoodies sweatshirt sweatshirts jacket jackets coat coats cardigan cardigans blazer
        blazers polo polos knitwear outerwear longsleeve longsleeves vest vests tanktop tanktops
        oberteil oberteile hemd hemden pullover jacke jacken mantel maentel mantel bluse blusen
        haut hauts chemise chemises chemisier chemisiers pull pulls veste vestes manteau manteaux
        camisa camisas camiseta camisetas chaqueta chaquetas abrigo abrigos jersey jerseys blusa
        blusas sudadera sudaderas maglietta magliette camicia camicie giacca giacche maglione
        maglioni cappotto cappotti overhemd overhemden trui truien jas jassen bovenstukken
    """,
    Category.BOTTOM: """
        bottom bottoms pants trousers jeans jean shorts short skirt skirts leggings chinos joggers
        hose hosen rock roecke rocke bas pantalon pantalons jupe jupes pantalones falda faldas
        vaqueros pantaloni gonna gonne broek broeken rok rokken
    """,
    Category.SHOES: """
        shoes shoe sneakers sneaker trainers boots boot sandals sandal heels footwear loafers
        schuhe schuh stiefel chaussures chaussure bottes baskets zapatos zapato zapatillas botas
        scarpe scarpa stivali schoenen schoen laarzen
    """,
    Category.ONE_PIECE: """
        dress dresses jumpsuit jumpsuits romper rompers overall overalls onepiece onepieces
        kleid kleider robe robes combinaison combinaisons vestido vestidos vestito vestiti abito
        abiti jurk jurken
    """,
    Category.OTHER: """
        accessories accessory hats hat caps cap bags bag belts belt scarves scarf jewellery jewelry
        accessoires hut huete hute tasche taschen chapeau chapeaux sac sacs sombrero sombreros
        bolso bolsos accesorios cappello cappelli borsa borse accessori hoeden tassen
    """,
}
FOLDER_WORDS: dict[str, Category] = {
    word: category for category, words in _WORDS.items() for word in words.split()
}


def _fold(text: str) -> str:
    """Lower case without accents or umlauts: 'Mäntel' -> 'mantel', 'T-Shirts' -> 't-shirts'."""
    text = text.lower().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def category_of_folder(name: str) -> Category | None:
    """The category a folder's name stands for, if any."""
    folded = _fold(name)
    whole = re.sub(r"[^a-z]", "", folded)
    if whole in FOLDER_WORDS:
        return FOLDER_WORDS[whole]
    for word in re.findall(r"[a-z]+", folded):
        if word in FOLDER_WORDS:
            return FOLDER_WORDS[word]
    return None


def category_from_path(photo: Path, root: Path) -> Category | None:
    """The category of the nearest folder (from the photo up to the import root) that names one."""
    for folder in [photo.parent, *photo.parent.parents]:
        category = category_of_folder(folder.name)
        if category is not None:
            return category
        if folder == root or folder == folder.parent:
            break
    return None


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in ("Thumbs.db", "desktop.ini", "__MACOSX")


def find_photos(
    root: Path, skipped: list[tuple[Path, str]] | None = None
) -> Iterator[tuple[Path, Category | None]]:
    """Photos under a folder (recursive, hidden files and folders skipped), sorted, each with
    the category its folders name. Files that are not image files are passed over. A Stylist
    library's folder is passed over whole (its working copies and thumbnails are not photos
    of their own), and named in ``skipped`` with the reason."""
    for folder, dirs, files in os.walk(root):
        if DATABASE_NAME in files:
            dirs[:] = []
            if skipped is not None:
                skipped.append((Path(folder), LIBRARY_SKIPPED))
            continue
        dirs[:] = sorted(d for d in dirs if not _hidden(d))
        for name in sorted(files):
            if _hidden(name) or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            path = Path(folder) / name
            yield path, category_from_path(path, root)
