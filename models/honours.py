"""Honours: campaigns (最美三长, 社区好人), nominations, votes, objections and awards."""
