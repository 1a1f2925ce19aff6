namespace Xapi.Cqrs.HostAgent.Hypervisor.Qemu;

/// <summary>
/// Where qemu hosts keep their domains and disk images (API.md: under <c>Xapi:DataDir</c>): each host has
/// <c>&lt;Directory&gt;/&lt;host-uuid&gt;/&lt;domid&gt;/</c> per domain (its <c>domain.json</c>, pidfile and QMP sockets) and
/// <c>…/consoles/&lt;vm-uuid&gt;.log</c> per VM (the serial console of its latest domain); a VDI's image is
/// <c>&lt;SrDirectory&gt;/&lt;sr-uuid&gt;/&lt;vdi-uuid&gt;.qcow2</c>.
/// </summary>
public sealed record QemuSettings(string Directory, string SrDirectory)
{
    /// <summary>The data directory's subdirectory of the qemu hosts.</summary>
    public const string DataDirSubdirectory = "qemu";

    /// <summary>The data directory's subdirectory of the SRs' images.</summary>
    public const string SrSubdirectory = "srs";

    /// <summary>The emulator (found on PATH unless a path).</summary>
    public string Emulator { get; init; } = "qemu-system-x86_64";

    /// <summary>The image tool (found on PATH unless a path).</summary>
    public string ImageTool { get; init; } = "qemu-img";

    /// <summary>How long a QMP command may take.</summary>
    public TimeSpan QmpTimeout { get; init; } = QmpClient.DefaultTimeout;

    /// <summary>How long QEMU may take to daemonize and answer on QMP after it is spawned.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the first unpause of a direct-boot domain waits for its kernel to write to the serial console.</summary>
    public TimeSpan GuestBootTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a clean shutdown or reboot presses the power button (or Ctrl-Alt-Del) again while the guest has not answered.</summary>
    public TimeSpan ShutdownRepeat { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a guest may take to release a device asked to unplug (<c>device_del</c>).</summary>
    public TimeSpan HotplugTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The settings for a service whose data directory is <paramref name="dataDir"/>.</summary>
    public static QemuSettings UnderDataDir(string dataDir)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataDir);
        var root = Path.GetFullPath(dataDir);
        return new QemuSettings(Path.Combine(root, DataDirSubdirectory), Path.Combine(root, SrSubdirectory));
    }

    /// <summary>The directory of one host's domains.</summary>
    public string HostDirectory(Guid hostId) => Path.Combine(Directory, hostId.ToString());

    /// <summary>The qcow2 image of a VDI.</summary>
    public string ImagePath(Guid srId, Guid vdiId) => Path.Combine(SrDirectory, srId.ToString(), vdiId + ".qcow2");
}
