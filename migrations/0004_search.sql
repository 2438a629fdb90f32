CREATE TABLE `event_text` (
	`id` integer PRIMARY KEY NOT NULL,
	`tenant` text NOT NULL,
	`session_id` text NOT NULL,
	`seq` integer NOT NULL,
	`type` text NOT NULL,
	`text` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `event_text_by_event` ON `event_text` (`tenant`,`session_id`,`seq`);--> statement-breakpoint
-- Hand-written below (drizzle-kit does not model FTS5): the search index over event_text,
-- kept in step by triggers, so an insert ignored as a repeat indexes nothing twice and a
-- deleted row leaves nothing searchable.
CREATE VIRTUAL TABLE `event_search` USING fts5(`text`, content='event_text', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2');--> statement-breakpoint
-- A purged session's words leave the index at once, not as delete markers until a merge.
INSERT INTO `event_search` (`event_search`, `rank`) VALUES ('secure-delete', 1);--> statement-breakpoint
CREATE TRIGGER `event_text_indexed` AFTER INSERT ON `event_text` BEGIN
	INSERT INTO `event_search` (rowid, `text`) VALUES (NEW.`id`, NEW.`text`);
END;--> statement-breakpoint
CREATE TRIGGER `event_text_removed` AFTER DELETE ON `event_text` BEGIN
	INSERT INTO `event_search` (`event_search`, rowid, `text`) VALUES ('delete', OLD.`id`, OLD.`text`);
END;
