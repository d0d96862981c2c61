from django import forms

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class CustomerImportForm(forms.Form):
    file = forms.FileField(help_text="CSV, UTF-8, separated by , or ; with a header row naming external_id and name.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
        return upload


class CustomerImportConfirmForm(forms.Form):
    token = forms.RegexField(regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput)
