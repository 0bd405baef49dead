"""The guide's CRM example: an SDK server calling a CRM over HTTP, and a stand-in CRM."""
