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
            var hostName = s.Json || reply.Value.ResidentOn is null ? null : await s.TryHostNameAsync(reply.Value.ResidentOn, ct);
            s.Print(reply, vm => Rendering.Started(s.Console, vm, hostName));
        });

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
