; Inno Setup script for Stylist on Windows: wraps the PyInstaller folder dist\Stylist\ (built on
; Windows from packaging\stylist.spec) into one setup .exe. Installs per user (no admin rights),
; adds a Start menu entry and an uninstaller; the wardrobe in %LOCALAPPDATA%\Stylist is left in
; place on uninstall. Build: iscc packaging\windows\stylist.iss  (see packaging\README.md).
#define AppVersion "0.1.0"

[Setup]
AppId={{6C1E8F52-4B7A-4E0B-9D3E-5A7C2F1B9E44}
AppName=Stylist
AppVersion={#AppVersion}
AppPublisher=The Stylist team
DefaultDirName={localappdata}\Programs\Stylist
DefaultGroupName=Stylist
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=Stylist-{#AppVersion}-windows-x64-setup
Compression=lzma2/ultra64
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\Stylist.exe
LicenseFile=..\..\LICENSE

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Files]
Source: "..\..\dist\Stylist\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Stylist"; Filename: "{app}\Stylist.exe"
Name: "{autodesktop}\Stylist"; Filename: "{app}\Stylist.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\Stylist.exe"; Description: "Open Stylist"; Flags: nowait postinstall skipifsilent
