-- Several investors (INVESTORS): each activity entry belongs to one investor, or to everyone
-- (NULL: the public market's crash and stabilize). Each investor reads hers and the public ones.
ALTER TABLE activity_log ADD COLUMN user_sub TEXT;
CREATE INDEX activity_log_user ON activity_log (user_sub, id DESC);
