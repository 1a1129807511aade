print("authsec")
