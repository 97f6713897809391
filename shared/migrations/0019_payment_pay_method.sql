-- One name for one thing: how the customer pays is `pay_method` in the pay command, in the code
-- (`paygate::domain::PayMethod`) and now in the payments table, which called it `channel`.
-- No view, index or constraint names the column; the values are unchanged (`redirect`, `form`,
-- `qr`, `client_secret`, `direct`).
ALTER TABLE payments RENAME COLUMN channel TO pay_method;
