-- Exact rows per table, with a total (count(*): one scan of each table).
WITH counts (ord, "table", exact_rows) AS (
    SELECT 1, 'users', count(*) FROM users
    UNION ALL SELECT 2, 'emails', count(*) FROM emails
    UNION ALL SELECT 3, 'phone_numbers', count(*) FROM phone_numbers
)
SELECT "table", exact_rows
FROM (SELECT ord, "table", exact_rows FROM counts
      UNION ALL SELECT 4, 'total', sum(exact_rows) FROM counts) AS with_total
ORDER BY ord;
