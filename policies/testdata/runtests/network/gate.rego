package ferry.promotion

deny contains msg if {
	resp := http.send({"method": "GET", "url": "http://127.0.0.1:1/verdict"})
	msg := resp.body.reason
}
