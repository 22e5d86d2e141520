"""Buurt bulletins (terugkoppeling): short non-urgent SMS to residents who opted in."""
