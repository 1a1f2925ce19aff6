using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Xapi.Cqrs.Cli;

internal static class Program
{
    public const string DefaultServer = "http://127.0.0.1:5080";

    public static Task<int> Main(string[] args) => RunAsync(args, CliIo.Process());

    public static async Task<int> RunAsync(string[] args, CliIo io, CancellationToken ct = default)
    {
        var parse = Build(io).Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
            {
                io.Error.WriteLine($"error: {error.Message}");
            }
            io.Error.WriteLine("run 'xapi --help' for usage");
            return ExitCodes.Usage;
        }
        return await parse.InvokeAsync(new InvocationConfiguration { Output = io.Out, Error = io.Error }, ct);
    }

    public static RootCommand Build(CliIo io)
    {
        var console = CreateConsole(io.Out);
        var server = new Option<string?>("--server")
        {
            HelpName = "url",
            Description = $"Base URL of the Xapi.Cqrs server [env XAPI_SERVER; default {DefaultServer}]",
            Recursive = true,
        };
        var token = new Option<string?>("--token") { HelpName = "token", Description = "Bearer token [env XAPI_TOKEN]", Recursive = true };
        var json = new Option<bool>("--json") { Description = "Print the server's JSON instead of tables", Recursive = true };
        var root = new RootCommand("xapi: the command line of the Xapi.Cqrs VM lifecycle service") { server, token, json };

        // A subcommand whose body runs inside Session.RunAsync: settings resolved, failures turned into short messages.
        void Define(string name, string description, Symbol[] symbols, Func<ParseResult, Session, CancellationToken, Task> body)
        {
            var command = new Command(name, description);
            foreach (var symbol in symbols)
            {
                switch (symbol)
                {
                    case Argument a: command.Arguments.Add(a); break;
                    case Option o: command.Options.Add(o); break;
                }
            }
            command.SetAction((r, ct) => Session.RunAsync(io, console, r.GetValue(server), r.GetValue(token), r.GetValue(json), s => body(r, s, ct), ct));
            root.Subcommands.Add(command);
        }

        Define("host-list", "List hosts: memory, CPUs, resident VMs", [], async (_, s, ct) =>
            s.Print(await s.Client.GetAsync<List<Host>>("api/hosts", ct), hosts => Rendering.Hosts(s.Console, hosts)));

        var powerState = new Option<string?>("--power-state") { HelpName = "state", Description = "Only VMs in this power state (Halted, Running, Paused, Suspended)" };
        var residentOn = new Option<string?>("--resident-on") { HelpName = "host", Description = "Only VMs resident on this host (uuid or name)" };
        Define("vm-list", "List VMs", [powerState, residentOn], async (r, s, ct) =>
        {
            var query = new List<string>();
            if (r.GetValue(powerState) is { } state)
            {
                query.Add($"powerState={Uri.EscapeDataString(state)}");
            }
            if (r.GetValue(residentOn) is { } host)
            {
                query.Add($"residentOn={Uri.EscapeDataString(await s.ResolveHostAsync(host, ct))}");
            }
            var vms = await s.Client.GetAsync<List<Vm>>(query.Count == 0 ? "api/vms" : $"api/vms?{string.Join('&', query)}", ct);
            var hostNames = s.Json ? [] : (await s.Client.GetAsync<List<Host>>("api/hosts", ct)).Value.ToDictionary(h => h.Id, h => h.NameLabel);
            s.Print(vms, list => Rendering.Vms(s.Console, list, hostNames));
        });

        var vmArg = new Argument<string>("vm") { Description = "VM uuid or name label" };
        Define("vm-show", "Show every field of a VM", [vmArg], async (r, s, ct) =>
        {
            var id = await s.ResolveVmAsync(r.GetValue(vmArg)!, ct);
            s.Print(await s.Client.GetAsync<JsonElement>($"api/vms/{id}", ct), vm => Rendering.Record(s.Console, AsObject(vm)));
        });

        var on = new Option<string?>("--on") { HelpName = "host", Description = "Start on this host only (uuid or name)" };
        var paused = new Option<bool>("--paused") { Description = "Leave the VM paused after it is built" };
        Define("vm-start", "Start a VM and wait until it is running (or paused)", [vmArg, on, paused], async (r, s, ct) =>
        {
            var id = await s.ResolveVmAsync(r.GetValue(vmArg)!, ct);
            var reply = r.GetValue(on) is { } host
                ? await s.Client.PostAsync<Vm>($"api/vms/{id}/start-on", new StartOnBody(await s.ResolveHostAsync(host, ct), r.GetValue(paused)), ct)
                : await s.Client.PostAsync<Vm>($"api/vms/{id}/start", new StartBody(r.GetValue(paused)), ct);
            await PrintPowerStateAsync(s, reply, ct);
        });

        // The VM calls without a body that answer the VM record once done (API.md "VM lifecycle").
        void DefineVmCall(string name, string description, string call, Option<bool>? force = null, string? forcedCall = null) =>
            Define(name, description, force is null ? [vmArg] : [vmArg, force], async (r, s, ct) =>
            {
                var id = await s.ResolveVmAsync(r.GetValue(vmArg)!, ct);
                var path = force is not null && r.GetValue(force) ? forcedCall : call;
                await PrintPowerStateAsync(s, await s.Client.PostAsync<Vm>($"api/vms/{id}/{path}", ct), ct);
            });

        DefineVmCall("vm-shutdown", "Shut a VM down: cleanly (its guest is asked to), or with --force hard (its domain is stopped)", "clean-shutdown",
            new Option<bool>("--force") { Description = "Hard shutdown: stop the domain without asking the guest" }, "hard-shutdown");
        DefineVmCall("vm-reboot", "Reboot a VM: cleanly (its guest is asked to), or with --force hard (its domain is restarted)", "clean-reboot",
            new Option<bool>("--force") { Description = "Hard reboot: restart the domain without asking the guest" }, "hard-reboot");
        DefineVmCall("vm-pause", "Pause a running VM", "pause");
        DefineVmCall("vm-unpause", "Unpause a paused VM", "unpause");

        Define("vm-destroy", "Destroy a halted or suspended VM with its VBDs and VIFs (its history stays)", [vmArg], async (r, s, ct) =>
        {
            var given = r.GetValue(vmArg)!;
            var id = await s.ResolveVmAsync(given, ct);
            s.Print(await s.Client.PostAsync($"api/vms/{id}/destroy", ct), _ => Rendering.Line(s.Console, $"VM {Rendering.Named(given, id)} is destroyed"));
        });

        var vdiArg = new Argument<string>("vdi") { Description = "VDI uuid or name label" };
        var userdevice = new Option<string>("--device")
        {
            HelpName = "N|autodetect",
            Description = "The disk's userdevice: its position (0, 1, …), or autodetect for the first free one",
            DefaultValueFactory = _ => "autodetect",
            CustomParser = result =>
            {
                var text = result.Tokens.Single().Value;
                if (text.Equals("autodetect", StringComparison.OrdinalIgnoreCase))
                {
                    return "autodetect";
                }
                if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    return n.ToString(CultureInfo.InvariantCulture);
                }
                result.AddError($"--device must be a number (0, 1, …) or autodetect, not '{text}'");
                return null;
            },
        };
        var mode = new Option<string>("--mode")
        {
            HelpName = "RW|RO",
            Description = "Read-write or read-only",
            DefaultValueFactory = _ => "RW",
            CustomParser = result =>
            {
                var text = result.Tokens.Single().Value;
                if (text.ToUpperInvariant() is "RW" or "RO")
                {
                    return text.ToUpperInvariant();
                }
                result.AddError($"--mode must be RW or RO, not '{text}'");
                return null;
            },
        };
        Define("vm-disk-add", "Give a VM a disk: a VBD for the VDI, plugged at once if the VM is running", [vmArg, vdiArg, userdevice, mode], async (r, s, ct) =>
        {
            var givenVm = r.GetValue(vmArg)!;
            var givenVdi = r.GetValue(vdiArg)!;
            var vmId = await s.ResolveVmAsync(givenVm, ct);
            var vdiId = await s.ResolveVdiAsync(givenVdi, ct);
            var body = new VbdBody(vdiId, r.GetValue(userdevice)!, r.GetValue(mode)!, "Disk", Plug: true);
            var reply = await s.Client.PostAsync<Created>($"api/vms/{vmId}/vbds", body, ct);
            var vbd = s.Json ? null : await s.TryGetAsync<Vbd>($"api/vbds/{reply.Value.Id}", ct);
            s.Print(reply, created => Rendering.DiskAdded(s.Console, created.Id, Rendering.Named(givenVdi, vdiId), Rendering.Named(givenVm, vmId), body, vbd));
        });

        var vbdArg = UuidArgument("vbd", "VBD");
        void DefineVbdCall(string call, string description) =>
            Define($"vbd-{call}", description, [vbdArg], async (r, s, ct) =>
            {
                var reply = await s.Client.PostAsync<Vbd>($"api/vbds/{r.GetValue(vbdArg)}/{call}", ct);
                var vmName = s.Json ? null : await s.TryVmNameAsync(reply.Value.Vm, ct);
                s.Print(reply, vbd => Rendering.DeviceState(s.Console, vbd, vmName));
            });
        DefineVbdCall("plug", "Plug a VBD into its running VM (hot-plug)");
        DefineVbdCall("unplug", "Unplug a VBD from its running VM (hot-unplug)");

        var vifArg = UuidArgument("vif", "VIF");
        void DefineVifCall(string call, string description) =>
            Define($"vif-{call}", description, [vifArg], async (r, s, ct) =>
            {
                var reply = await s.Client.PostAsync<Vif>($"api/vifs/{r.GetValue(vifArg)}/{call}", ct);
                var vmName = s.Json ? null : await s.TryVmNameAsync(reply.Value.Vm, ct);
                s.Print(reply, vif => Rendering.DeviceState(s.Console, vif, vmName));
            });
        DefineVifCall("plug", "Plug a VIF into its running VM (hot-plug)");
        DefineVifCall("unplug", "Unplug a VIF from its running VM (hot-unplug)");

        var at = new Option<DateTimeOffset?>("--at")
        {
            HelpName = "time",
            Description = "Show the VM record as it was at this ISO-8601 time (UTC unless an offset is given)",
            CustomParser = result =>
            {
                var text = result.Tokens.Single().Value;
                if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
                {
                    return time;
                }
                result.AddError($"--at must be an ISO-8601 time such as 2025-01-31T12:00:00Z, not '{text}'");
                return null;
            },
        };
        Define("vm-history", "A VM's events in commit order, or its record at a past time", [vmArg, at], async (r, s, ct) =>
        {
            var id = await s.ResolveVmAsync(r.GetValue(vmArg)!, ct);
            if (r.GetValue(at) is { } when)
            {
                var path = $"api/vms/{id}/history?at={Uri.EscapeDataString(when.ToUniversalTime().ToString("O"))}";
                s.Print(await s.Client.GetAsync<JsonElement>(path, ct), vm => Rendering.Record(s.Console, AsObject(vm)));
            }
            else
            {
                s.Print(await s.Client.GetAsync<List<HistoryEntry>>($"api/vms/{id}/history", ct), h => Rendering.History(s.Console, h));
            }
        });

        return root;
    }

    /// <summary>"web01 (uuid) is Running on host-a (uuid)": the VM record a lifecycle call answered, with its host's name.</summary>
    private static async Task PrintPowerStateAsync(Session s, Reply<Vm> reply, CancellationToken ct)
    {
        var hostName = s.Json || reply.Value.ResidentOn is null ? null : await s.TryHostNameAsync(reply.Value.ResidentOn, ct);
        s.Print(reply, vm => Rendering.PowerState(s.Console, vm, hostName));
    }

    /// <summary>An object the CLI names only by uuid (VBDs and VIFs have no name label): anything else is a usage error.</summary>
    private static Argument<string> UuidArgument(string name, string kind) => new(name)
    {
        Description = $"{kind} uuid",
        CustomParser = result =>
        {
            var text = result.Tokens.Single().Value;
            if (Guid.TryParse(text, out _))
            {
                return text;
            }
            result.AddError($"{name} must be a {kind} uuid, not '{text}'");
            return null;
        },
    };

    private static JsonElement AsObject(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object ? e : throw new JsonException($"expected a JSON object, got {e.ValueKind}");

    private static IAnsiConsole CreateConsole(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer) });
        if (!console.Profile.Out.IsTerminal)
        {
            console.Profile.Width = 240; // piped or captured: keep uuids on one line instead of wrapping at 80 columns
        }
        return console;
    }
}
