using System.Globalization;
using System.Text.Json;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Memory;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.HostAgent.Hypervisor.Qemu;

/// <summary>
/// The <c>qemu</c> backend: each domain is a real <c>qemu-system-x86_64</c> process (q35, TCG), driven over QMP
/// (<see cref="QmpClient"/>). One class in two files:
/// <list type="bullet">
/// <item>this file: create (the process, spawned paused with <c>-S</c>, one <c>pcie-root-port</c> per possible device, a
/// QMP socket for the agent and one for inspection, a pidfile, the serial console in a log file), build, device model,
/// pause (<c>stop</c>) and unpause (<c>cont</c>), clean shutdown (<c>system_powerdown</c> or Ctrl-Alt-Del, pressed again
/// until the guest answers or the deadline passes), destroy (<c>quit</c>, then SIGKILL if QEMU lingers), power state from QMP events, reconciliation;</item>
/// <item><c>.Devices</c>: VBDs (a qcow2 image per VDI, <c>blockdev-add</c> + <c>device_add virtio-blk-pci</c>) and VIFs
/// (<c>netdev_add</c> user networking with <c>restrict</c> + <c>device_add virtio-net-pci</c>).</item>
/// </list>
/// Domids are a per-host counter kept on disk with each domain's pid (<see cref="QemuDomainRecord"/>). Memory is
/// accounted as the simulator does (§5.5 reservations against the host's registered memory). QEMU runs with
/// <c>-no-shutdown -no-reboot</c>: a guest that powers off, resets or panics leaves its process in QMP status
/// <c>shutdown</c> (the Xen "shutdown" domain state, holding its memory until destroyed) and raises
/// <see cref="DomainStopped"/>; a QEMU that dies is a crash. Disposing closes the QMP connections and leaves the
/// processes running (a restarted agent adopts them); <see cref="DestroyDomainAsync"/> stops them.
/// <para>
/// Guest features, honestly: a domain reports <see cref="AcpiGuest"/> (the power button and Ctrl-Alt-Del, so clean
/// shutdown and reboot are offered) only once an OS has booted in it, and the only sign of that without PV drivers is
/// the OS itself: a direct-boot domain (<see cref="DirectBoot"/>, a kernel from its boot VDI) that has run and whose serial
/// console log is no longer empty (the kernel has written to it). A firmware-only domain never does (SeaBIOS alone ignores
/// the button): it has no features, so clean shutdown and reboot are refused up front (<c>VM_LACKS_FEATURE</c>) rather
/// than failing at their deadline. The first unpause of a direct-boot domain waits, up to
/// <see cref="QemuSettings.GuestBootTimeout"/>, for that console output, so the start reports the features (as PV drivers
/// have written theirs when a Xen unpause returns); a kernel that stays silent is left without them.
/// </para>
/// Thread-safe: one lock guards the domains, never held across an await.
/// </summary>
public sealed partial class QemuHost : IHypervisor, IDisposable
{
    public const string KindName = "qemu";

    /// <summary>Root ports for disks (positions 0–7: rp1–rp8) and for NICs (devices 0–7: rp9–rp16).</summary>
    public const int MaxDisks = 8;

    public const int MaxNics = 8;

    /// <summary>What a guest that has booted an OS (see the class remarks) is said to support: the ACPI power button and Ctrl-Alt-Del.</summary>
    public static readonly GuestAgentInfo AcpiGuest = new("qemu-acpi", ["feature-poweroff", "feature-reboot"]);

    private readonly object _gate = new();
    private readonly Dictionary<Guid, Dom> _domains = [];
    private readonly TimeProvider _time;
    private readonly string _hostDir;
    private long _reserved;
    private int _nextDomid = 1;
    private bool _disposed;

    /// <param name="hostId">The host this drives.</param>
    /// <param name="memoryTotal">Host memory in bytes (as registered).</param>
    /// <param name="hostOverhead">Memory never available to guests, bytes.</param>
    /// <param name="settings">Where domains and images live, which binaries to run.</param>
    /// <param name="time">Clock for creation times and shutdown deadlines.</param>
    public QemuHost(Guid hostId, long memoryTotal, long hostOverhead, QemuSettings settings, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(memoryTotal);
        HostId = hostId;
        MemoryTotal = memoryTotal;
        HostOverhead = hostOverhead;
        Settings = settings;
        _time = time ?? TimeProvider.System;
        _hostDir = settings.HostDirectory(hostId);
        Directory.CreateDirectory(Path.Combine(_hostDir, "consoles"));
        Reconcile();
    }

    public Guid HostId { get; }

    public string Kind => KindName;

    public QemuSettings Settings { get; }

    public long MemoryTotal { get; }

    public long HostOverhead { get; }

    public long MemoryFree
    {
        get
        {
            lock (_gate)
            {
                return MemoryTotal - HostOverhead - _reserved;
            }
        }
    }

    public event EventHandler<DomainStopped>? DomainStopped;

    /// <summary>The serial console log of the VM's latest domain on this host (it stays after the domain is destroyed).</summary>
    public string ConsoleLogPath(Guid vmId) => Path.Combine(_hostDir, "consoles", vmId + ".log");

    public DomainInfo? FindDomain(Guid vmId)
    {
        lock (_gate)
        {
            return _domains.TryGetValue(vmId, out var d) ? InfoLocked(d) : null;
        }
    }

    public IReadOnlyList<DomainInfo> ListDomains()
    {
        lock (_gate)
        {
            return [.. _domains.Values.OrderBy(d => d.Record.Domid).Select(InfoLocked)];
        }
    }

    /// <summary>Qemu hosts have no xenstore.</summary>
    public XenstoreNode? ReadXenstore(string path) =>
        throw new HypervisorException(ErrorCodes.NotImplemented, "xenstore", $"host {HostId} runs qemu, which has no xenstore");

    public async Task<DomainInfo> CreateDomainAsync(DomainSpec spec, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ct.ThrowIfCancellationRequested();
        Validate(spec);
        var (lower, upper) = MemoryModel.ReservationBytes(spec.MemoryDynamicMin, spec.MemoryDynamicMax, spec.MemoryOverhead);
        Dom d;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_domains.TryGetValue(spec.VmId, out var existing))
            {
                throw HypervisorException.Internal($"Already_exists: VM {spec.VmId} already has domain {existing.Record.Domid}");
            }

            var free = MemoryTotal - HostOverhead - _reserved;
            if (free < lower)
            {
                throw new HypervisorException(ErrorCodes.HostNotEnoughFreeMemory, Str(lower), Str(free));
            }

            var granted = Math.Min(upper, free / MemoryModel.BytesPerKib * MemoryModel.BytesPerKib);
            var target = Math.Min(spec.MemoryDynamicMax, granted - spec.MemoryOverhead);
            var domid = AllocateDomidLocked();
            var dir = Path.Combine(_hostDir, Str(domid));
            var record = new QemuDomainRecord
            {
                VmId = spec.VmId,
                Domid = domid,
                Name = spec.Name.Length > 0 ? spec.Name : $"Domain-{domid}",
                DomainType = spec.DomainType,
                Vcpus = spec.VcpusAtStartup,
                VcpusMax = spec.VcpusMax,
                MemoryTarget = target,
                MemoryReserved = granted,
                CreatedAt = _time.GetUtcNow(),
                QmpSocket = SocketPath(dir, domid, "qmp"),
                MonitorSocket = SocketPath(dir, domid, "monitor"),
                PidFile = Path.Combine(dir, "qemu.pid"),
                ConsoleLog = ConsoleLogPath(spec.VmId),
                DirectBoot = spec.DirectBoot is not null,
            };
            d = new Dom(record, dir) { State = DomainStates.Paused, Boot = spec.DirectBoot };
            _domains.Add(spec.VmId, d);
            _reserved += granted;
        }

        try
        {
            Directory.CreateDirectory(d.Dir);
            foreach (var stale in new[] { d.Record.QmpSocket, d.Record.MonitorSocket, d.Record.PidFile }.Where(File.Exists))
            {
                File.Delete(stale);
            }

            d.Record.Save(d.Dir);
            var (exit, error) = await QemuProcess.RunAsync(Settings.Emulator, Arguments(spec, d.Record), Settings.StartTimeout, ct).ConfigureAwait(false);
            if (exit != 0)
            {
                throw new HypervisorException(ErrorCodes.FailedToStartEmulator, spec.VmId.ToString(), Settings.Emulator,
                    error.Length > 0 ? error : $"exited with {exit}");
            }

            var pid = QemuProcess.ReadPidFile(d.Record.PidFile);
            Update(d, r => r with { Pid = pid });
            await AttachAsync(d, ct).ConfigureAwait(false);
            return FindDomain(spec.VmId) ?? throw HypervisorException.NoDomain(spec.VmId);
        }
        catch (Exception e) when (e is not HypervisorException)
        {
            await DestroyDomainAsync(spec.VmId, CancellationToken.None).ConfigureAwait(false);
            throw e is OperationCanceledException ? e : HypervisorException.Internal($"QEMU for VM {spec.VmId} did not start: {e.Message}");
        }
        catch
        {
            await DestroyDomainAsync(spec.VmId, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    public Task<BuildInfo> BuildDomainAsync(Guid vmId, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var d = GetLocked(vmId);
            if (d.Record.Build is { } built)
            {
                return Task.FromResult(built);
            }

            var weight = DomainSpec.DefaultVcpuWeight;
            var build = new BuildInfo(d.Record.Domid, d.Boot?.Kernel ?? "seabios", 0, "all", weight, DomainSpec.DefaultVcpuCap);
            UpdateLocked(d, r => r with { Build = build });
            return Task.FromResult(build);
        }
    }

    /// <summary>The QEMU process is the device model: nothing more to start, no VNC (the console is the serial log).</summary>
    public Task<DeviceModelInfo> CreateDeviceModelAsync(Guid vmId, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var d = GetLocked(vmId);
            if (d.Record.DeviceModel is { } running)
            {
                return Task.FromResult(running);
            }

            if (d.Record.Build is null)
            {
                throw HypervisorException.Internal($"Domain_not_built: domain {d.Record.Domid} of VM {vmId} must be built before its device model starts");
            }

            var model = new DeviceModelInfo(d.Record.Domid, KindName, null, d.Record.Nics.Count);
            UpdateLocked(d, r => r with { DeviceModel = model });
            return Task.FromResult(model);
        }
    }

    public Task ClearActionRequestAsync(Guid vmId, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        lock (_gate)
        {
            UpdateLocked(GetLocked(vmId), r => r with { ActionRequest = false });
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// <c>cont</c>: paused → running (the first time, the guest boots, and a direct-boot kernel is given up to
    /// <see cref="QemuSettings.GuestBootTimeout"/> to write to its console); running or shut down: nothing.
    /// </summary>
    public async Task UnpauseAsync(Guid vmId, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        Dom d;
        bool firstBoot;
        lock (_gate)
        {
            d = GetLocked(vmId);
            if (d.State != DomainStates.Paused)
            {
                return;
            }

            AssertBuiltLocked(d);
            firstBoot = !d.Booted;
        }

        await QmpAsync(d, "cont", null, ct).ConfigureAwait(false);
        lock (_gate)
        {
            if (d.State == DomainStates.Paused)
            {
                d.State = DomainStates.Running;
            }

            d.Booted = true;
        }

        if (firstBoot && d.Record.DirectBoot)
        {
            await WaitForGuestAsync(d, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Polls the console log of a booting direct-boot domain until it is written, the domain stops, or the timeout passes.</summary>
    private async Task WaitForGuestAsync(Dom d, CancellationToken ct)
    {
        var deadline = _time.GetUtcNow() + Settings.GuestBootTimeout;
        while (true)
        {
            lock (_gate)
            {
                if (GuestUpLocked(d) || d.State == DomainStates.Shutdown || d.Destroying is not null || _disposed)
                {
                    return;
                }
            }

            if (_time.GetUtcNow() >= deadline)
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), _time, ct).ConfigureAwait(false);
        }
    }

    /// <summary>True once the domain has booted an OS (see the class remarks): it is direct-boot, has run, and its console is written.</summary>
    private static bool GuestUpLocked(Dom d)
    {
        if (!d.GuestUp && d.Booted && d.Record.DirectBoot)
        {
            try
            {
                d.GuestUp = new FileInfo(d.Record.ConsoleLog) is { Exists: true, Length: > 0 };
            }
            catch (IOException)
            {
                // not readable now: asked again next time
            }
        }

        return d.GuestUp;
    }

    /// <summary><c>stop</c>: running → paused; paused or shut down: nothing.</summary>
    public async Task PauseAsync(Guid vmId, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        Dom d;
        lock (_gate)
        {
            d = GetLocked(vmId);
            if (d.State != DomainStates.Running)
            {
                return;
            }

            AssertBuiltLocked(d);
        }

        await QmpAsync(d, "stop", null, ct).ConfigureAwait(false);
        lock (_gate)
        {
            if (d.State == DomainStates.Running)
            {
                d.State = DomainStates.Paused;
            }
        }
    }

    /// <summary>
    /// Poweroff presses the ACPI power button (<c>system_powerdown</c>), reboot sends Ctrl-Alt-Del (<c>send-key</c>), again
    /// every <see cref="QemuSettings.ShutdownRepeat"/> until the guest has shut down (QMP <c>SHUTDOWN</c> with
    /// <c>guest: true</c>): true then, false when <paramref name="timeout"/> passes first (a guest without ACPI support, such
    /// as bare firmware, never answers). Pressed again because a booting OS drops a press made before its handler runs (a
    /// Linux guest before its ACPI button driver and acpid, its keyboard driver), as a person would press again. A paused
    /// guest is asked once it runs again.
    /// </summary>
    public async Task<bool> ShutdownAsync(Guid vmId, ShutdownReason reason, TimeSpan timeout, CancellationToken ct)
    {
        if (reason is not (ShutdownReason.Poweroff or ShutdownReason.Reboot))
        {
            throw new ArgumentOutOfRangeException(nameof(reason), reason, "only poweroff and reboot can be asked for");
        }

        ct.ThrowIfCancellationRequested();
        Dom d;
        var request = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            d = GetLocked(vmId);
            if (d.State == DomainStates.Shutdown)
            {
                return true;
            }

            d.ShutdownRequest = request;
        }

        try
        {
            var deadline = _time.GetUtcNow() + timeout;
            while (true)
            {
                if (reason == ShutdownReason.Poweroff)
                {
                    await QmpAsync(d, "system_powerdown", null, ct).ConfigureAwait(false);
                }
                else
                {
                    await QmpAsync(d, "send-key", new { keys = new object[] { Key("ctrl"), Key("alt"), Key("delete") } }, ct).ConfigureAwait(false);
                }

                var left = deadline - _time.GetUtcNow();
                var wait = left < Settings.ShutdownRepeat ? left : Settings.ShutdownRepeat;
                try
                {
                    return await request.Task.WaitAsync(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, _time, ct).ConfigureAwait(false);
                }
                catch (TimeoutException) when (_time.GetUtcNow() < deadline)
                {
                    // not yet: press again
                }
                catch (TimeoutException)
                {
                    return false;
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                if (d.ShutdownRequest == request)
                {
                    d.ShutdownRequest = null;
                }
            }
        }

        static object Key(string name) => new { type = "qcode", data = name };
    }

    /// <summary>
    /// <c>quit</c>, then wait for the process to go (SIGKILL when it lingers past 10 s); the domain's directory goes too,
    /// the console log stays. Idempotent, and not cancellable: cleanup always completes.
    /// </summary>
    public async Task DestroyDomainAsync(Guid vmId, CancellationToken ct)
    {
        Dom? d;
        lock (_gate)
        {
            if (!_domains.TryGetValue(vmId, out d) || d.Destroying is not null)
            {
                d = null;
            }
            else
            {
                d.Destroying = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        if (d is null)
        {
            Task? pending;
            lock (_gate)
            {
                pending = _domains.TryGetValue(vmId, out var other) ? other.Destroying?.Task : null;
            }

            if (pending is not null)
            {
                await pending.ConfigureAwait(false);
            }

            return;
        }

        try
        {
            if (d.Qmp is { } qmp)
            {
                try
                {
                    await qmp.ExecuteAsync("quit", null, Settings.QmpTimeout, CancellationToken.None).ConfigureAwait(false);
                    await qmp.Closed.WaitAsync(Settings.QmpTimeout, TimeProvider.System).ConfigureAwait(false);
                }
                catch (Exception e) when (e is QmpException or TimeoutException)
                {
                    // dead already, or not answering: the pid is killed below
                }
            }

            await QemuProcess.WaitGoneAsync(d.Record.Pid, d.Record.QmpSocket, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            if (d.Record.Pid == 0)
            {
                // Spawned but its pidfile never read (a failed or cancelled create): the pidfile may name it now.
                var pid = QemuProcess.ReadPidFile(d.Record.PidFile);
                QemuProcess.Kill(pid, d.Record.QmpSocket);
            }

            if (d.Qmp is not null)
            {
                await d.Qmp.DisposeAsync().ConfigureAwait(false);
            }

            TryDeleteDirectory(d.Dir);
            foreach (var socket in new[] { d.Record.QmpSocket, d.Record.MonitorSocket }.Where(File.Exists))
            {
                File.Delete(socket);
            }
        }
        finally
        {
            TaskCompletionSource<bool>? request;
            lock (_gate)
            {
                _domains.Remove(vmId);
                _reserved -= d.Record.MemoryReserved;
                request = d.ShutdownRequest;
                d.ShutdownRequest = null;
            }

            request?.TrySetException(HypervisorException.NoDomain(vmId));
            d.Destroying!.TrySetResult();
        }
    }

    public void Dispose()
    {
        List<Dom> all;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            all = [.. _domains.Values];
        }

        foreach (var d in all)
        {
            d.Detached = true;
            d.Qmp?.Dispose();
        }
    }

    /// <summary>The command line of a domain's QEMU: paused, q35 under TCG, its root ports, sockets, pidfile and console.</summary>
    internal IEnumerable<string> Arguments(DomainSpec spec, QemuDomainRecord r)
    {
        List<string> args =
        [
            "-name", Sanitize(r.Name), "-uuid", spec.VmId.ToString(),
            "-S", "-nodefaults", "-display", "none", "-machine", "q35", "-accel", "tcg",
            "-m", Str(Math.Max(32, r.MemoryTarget >> 20)),
            "-smp", $"{Str(spec.VcpusAtStartup)},maxcpus={Str(spec.VcpusMax)}",
            "-no-shutdown", "-no-reboot",
        ];
        for (var port = 1; port <= MaxDisks + MaxNics; port++)
        {
            args.AddRange(["-device", $"pcie-root-port,id=rp{Str(port)},bus=pcie.0,chassis={Str(port)},slot={Str(port)}"]);
        }

        if (spec.DirectBoot is { } boot)
        {
            args.AddRange(["-kernel", boot.Kernel]);
            if (boot.Initrd.Length > 0)
            {
                args.AddRange(["-initrd", boot.Initrd]);
            }

            args.AddRange(["-append", boot.Cmdline]);
        }

        args.AddRange([
            "-qmp", $"unix:{r.QmpSocket},server=on,wait=off", "-qmp", $"unix:{r.MonitorSocket},server=on,wait=off",
            "-pidfile", r.PidFile, "-serial", $"file:{r.ConsoleLog}", "-daemonize",
        ]);
        return args;
    }

    private static string Sanitize(string name) => new([.. name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_')]);

    /// <summary>A socket under the domain's directory, or under the temp directory when that path is too long for a unix socket.</summary>
    private string SocketPath(string dir, int domid, string name)
    {
        var path = Path.Combine(dir, name + ".sock");
        return path.Length <= 100 ? path : Path.Combine(Path.GetTempPath(), $"xapi-qemu-{HostId:N}"[..22] + $"-{Str(domid)}-{name}.sock");
    }

    /// <summary>Connects the agent's QMP client to a spawned (or found) QEMU and follows its events.</summary>
    private async Task AttachAsync(Dom d, CancellationToken ct)
    {
        var qmp = await QmpClient.ConnectAsync(d.Record.QmpSocket, Settings.StartTimeout, ct).ConfigureAwait(false);
        qmp.Event += (_, e) => OnEvent(d, e);
        _ = qmp.Closed.ContinueWith(_ => OnClosed(d), TaskScheduler.Default);
        lock (_gate)
        {
            d.Qmp = qmp;
        }

        var status = await QmpAsync(d, "query-status", null, ct).ConfigureAwait(false);
        var s = status.GetProperty("status").GetString();
        lock (_gate)
        {
            d.State = s switch
            {
                "running" => DomainStates.Running,
                "shutdown" or "guest-panicked" => DomainStates.Shutdown,
                _ => DomainStates.Paused,
            };
            if (d.State == DomainStates.Shutdown)
            {
                d.ShutdownReason ??= s == "guest-panicked" ? ShutdownReason.Crash : ShutdownReason.Poweroff;
            }

            d.Booted = s != "prelaunch";
        }
    }

    /// <summary>xenopsd's event thread: QMP events move the power state; a guest stopping by itself raises <see cref="DomainStopped"/>.</summary>
    private void OnEvent(Dom d, QmpEvent e)
    {
        DomainStopped? stopped = null;
        lock (_gate)
        {
            switch (e.Name)
            {
                case "STOP" when d.State == DomainStates.Running:
                    d.State = DomainStates.Paused;
                    break;
                case "RESUME" when d.State != DomainStates.Shutdown:
                    d.State = DomainStates.Running;
                    break;
                case "SHUTDOWN" when e.Data.TryGetProperty("guest", out var guest) && guest.ValueKind == JsonValueKind.True:
                    var reason = e.Data.TryGetProperty("reason", out var r) ? r.GetString() : null;
                    stopped = Stop(reason switch
                    {
                        "guest-reset" => ShutdownReason.Reboot,
                        "guest-panic" => ShutdownReason.Crash,
                        _ => ShutdownReason.Poweroff,
                    });
                    break;
                case "GUEST_PANICKED":
                    stopped = Stop(ShutdownReason.Crash);
                    break;
            }
        }

        Raise(stopped);

        DomainStopped? Stop(ShutdownReason reason)
        {
            if (d.State == DomainStates.Shutdown)
            {
                return null;
            }

            d.State = DomainStates.Shutdown;
            d.ShutdownReason = reason;
            if (d.ShutdownRequest is { } request)
            {
                request.TrySetResult(true); // asked for: no DomainStopped
                return null;
            }

            return new DomainStopped(d.Record.VmId, d.Record.Domid, reason, _time.GetUtcNow());
        }
    }

    /// <summary>The QMP socket closed: unless we quit it or let it go, QEMU died — the domain has crashed.</summary>
    private void OnClosed(Dom d)
    {
        DomainStopped? stopped = null;
        lock (_gate)
        {
            if (d.Destroying is not null || d.Detached || _disposed || d.State == DomainStates.Shutdown)
            {
                return;
            }

            d.State = DomainStates.Shutdown;
            d.ShutdownReason = ShutdownReason.Crash;
            if (d.ShutdownRequest is null && !d.Record.ActionRequest)
            {
                stopped = new DomainStopped(d.Record.VmId, d.Record.Domid, ShutdownReason.Crash, _time.GetUtcNow());
            }

            d.ShutdownRequest?.TrySetResult(true);
        }

        Raise(stopped);
    }

    private void Raise(DomainStopped? stopped)
    {
        if (stopped is not null)
        {
            DomainStopped?.Invoke(this, stopped);
        }
    }

    /// <summary>A QMP command on the domain's QEMU; its failure (QEMU's error, a timeout, QEMU gone) is INTERNAL_ERROR.</summary>
    private async Task<JsonElement> QmpAsync(Dom d, string command, object? arguments, CancellationToken ct)
    {
        var qmp = d.Qmp ?? throw HypervisorException.Internal($"QEMU of domain {d.Record.Domid} (VM {d.Record.VmId}) is not connected");
        try
        {
            return await qmp.ExecuteAsync(command, arguments, Settings.QmpTimeout, ct).ConfigureAwait(false);
        }
        catch (QmpException e)
        {
            throw HypervisorException.Internal($"QEMU of domain {d.Record.Domid} (VM {d.Record.VmId}, pid {Str(d.Record.Pid)}): {command} failed: {e.ErrorClass}: {e.Description}");
        }
    }

    /// <summary>
    /// At construction: the domains this host left on disk. A live QEMU of a complete domain is adopted (QMP connected
    /// again, its state queried); a half-built one (still carrying the marker) is killed; a dead one's leftovers go.
    /// </summary>
    private void Reconcile()
    {
        var counter = Path.Combine(_hostDir, "next-domid");
        if (File.Exists(counter) && int.TryParse(File.ReadAllText(counter).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var next))
        {
            _nextDomid = next;
        }

        foreach (var dir in Directory.EnumerateDirectories(_hostDir).Where(p => int.TryParse(Path.GetFileName(p), NumberStyles.None, CultureInfo.InvariantCulture, out _)))
        {
            var record = QemuDomainRecord.Load(dir);
            if (record is null)
            {
                TryDeleteDirectory(dir);
                continue;
            }

            var pid = record.Pid != 0 ? record.Pid : QemuProcess.ReadPidFile(record.PidFile);
            var alive = QemuProcess.IsOurs(pid, record.QmpSocket);
            if (!alive || record.ActionRequest || record.Build is null)
            {
                QemuProcess.Kill(pid, record.QmpSocket);
                TryDeleteDirectory(dir);
                continue;
            }

            var d = new Dom(record with { Pid = pid }, dir) { State = DomainStates.Paused };
            try
            {
                AttachAsync(d, CancellationToken.None).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is HypervisorException or QmpException)
            {
                QemuProcess.Kill(pid, record.QmpSocket);
                TryDeleteDirectory(dir);
                continue;
            }

            _domains[record.VmId] = d;
            _reserved += record.MemoryReserved;
            _nextDomid = Math.Max(_nextDomid, record.Domid + 1);
        }
    }

    private int AllocateDomidLocked()
    {
        var domid = _nextDomid;
        while (domid >= 0x7FF0 || _domains.Values.Any(d => d.Record.Domid == domid) || Directory.Exists(Path.Combine(_hostDir, Str(domid))))
        {
            domid = domid >= 0x7FF0 ? 1 : domid + 1;
        }

        _nextDomid = domid + 1;
        File.WriteAllText(Path.Combine(_hostDir, "next-domid"), Str(_nextDomid));
        return domid;
    }

    private Dom GetLocked(Guid vmId)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _domains.TryGetValue(vmId, out var d) && d.Destroying is null ? d : throw HypervisorException.NoDomain(vmId);
    }

    private static void AssertBuiltLocked(Dom d)
    {
        if (d.Record.Build is null || d.Record.DeviceModel is null)
        {
            throw HypervisorException.Internal($"Domain_not_built: domain {d.Record.Domid} of VM {d.Record.VmId} is not built"
                + (d.Record.Build is null ? "" : " (no device model)"));
        }
    }

    private void Update(Dom d, Func<QemuDomainRecord, QemuDomainRecord> change)
    {
        lock (_gate)
        {
            UpdateLocked(d, change);
        }
    }

    private static void UpdateLocked(Dom d, Func<QemuDomainRecord, QemuDomainRecord> change)
    {
        d.Record = change(d.Record);
        d.Record.Save(d.Dir);
    }

    private static DomainInfo InfoLocked(Dom d)
    {
        var r = d.Record;
        return new DomainInfo(r.Domid, r.VmId, r.Name, r.DomainType, d.State, r.Vcpus, r.VcpusMax, r.MemoryTarget, r.MemoryReserved,
            r.ActionRequest ? "poweroff" : null, r.Build is not null, r.DeviceModel is not null, r.CreatedAt,
            [.. r.Disks.Select(x => x.Id)], [.. r.Nics.Select(x => x.Id)], null)
        {
            ShutdownReason = d.State == DomainStates.Shutdown ? d.ShutdownReason : null,
            Guest = GuestUpLocked(d) ? AcpiGuest : null,
            Pid = r.Pid,
            ConsoleLog = r.ConsoleLog,
            MonitorSocket = r.MonitorSocket,
        };
    }

    private static void Validate(DomainSpec spec)
    {
        if (spec.VmId == Guid.Empty)
        {
            throw HypervisorException.Internal("VM id must not be empty");
        }

        if (spec.VcpusMax < 1 || spec.VcpusAtStartup < 1 || spec.VcpusAtStartup > spec.VcpusMax)
        {
            throw HypervisorException.Internal($"Invalid_vcpus: VM {spec.VmId} has VCPUs_at_startup={spec.VcpusAtStartup}, VCPUs_max={spec.VcpusMax}");
        }

        if (spec.MemoryDynamicMin < 0 || spec.MemoryOverhead < 0 || spec.MemoryDynamicMax <= 0 || spec.MemoryDynamicMin > spec.MemoryDynamicMax)
        {
            throw HypervisorException.Internal($"VM {spec.VmId}: invalid memory (dynamic {spec.MemoryDynamicMin}..{spec.MemoryDynamicMax})");
        }

        if (spec.DirectBoot is { } boot && (!File.Exists(boot.Kernel) || (boot.Initrd.Length > 0 && !File.Exists(boot.Initrd))))
        {
            throw new HypervisorException(ErrorCodes.BootloaderFailed, spec.VmId.ToString(), $"kernel {boot.Kernel} or initrd {boot.Initrd} not found on the host");
        }
    }

    private static void TryDeleteDirectory(string dir)
    {
        try
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
        catch (IOException)
        {
            // left for the next reconciliation
        }
    }

    private static string Str(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>One domain: what is on disk, plus what the live process tells (state, QMP connection, pending requests).</summary>
    private sealed class Dom(QemuDomainRecord record, string dir)
    {
        public QemuDomainRecord Record { get; set; } = record;
        public string Dir { get; } = dir;
        public DirectBoot? Boot { get; init; }
        public QmpClient? Qmp { get; set; }
        public string State { get; set; } = DomainStates.Paused;
        public ShutdownReason? ShutdownReason { get; set; }
        public bool Booted { get; set; }
        public bool GuestUp { get; set; }
        public TaskCompletionSource<bool>? ShutdownRequest { get; set; }
        public TaskCompletionSource? Destroying { get; set; }
        public bool Detached { get; set; }
    }
}
