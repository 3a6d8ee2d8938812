-- SMS messages counted per organization and Dhaka month beside their cost: the plan's
-- `sms_per_month` is checked in the same conditional upsert that spends the budget, so
-- concurrent triggers cannot together pass either.
ALTER TABLE notify.sms_spend ADD COLUMN messages integer NOT NULL DEFAULT 0 CHECK (messages >= 0);
