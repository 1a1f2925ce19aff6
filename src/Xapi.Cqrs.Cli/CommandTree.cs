using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace Xapi.Cqrs.Cli;

/// <summary>
/// The root command, its global options, and <see cref="Define"/>: a verb whose body runs inside
/// <see cref="Session.RunAsync"/> (settings resolved, every failure turned into a short message and an exit code).
/// The verb files (VmVerbs, HistoryVerbs, …) add their commands through it.
/// </summary>
internal sealed class CommandTree
{
    public CommandTree(CliIo io)
    {
        Io = io;
        Console = CreateConsole(io);
        Server = new Option<string?>("--server")
        {
            HelpName = "url",
            Description = $"Base URL of the Xapi.Cqrs server [env XAPI_SERVER; default {Program.DefaultServer}]",
            Recursive = true,
        };
        Token = new Option<string?>("--token") { HelpName = "token", Description = "Bearer token [env XAPI_TOKEN]", Recursive = true };
        Json = new Option<bool>("--json") { Description = "Print the server's JSON instead of tables", Recursive = true };
        Root = new RootCommand(Program.Description) { Server, Token, Json };
    }

    public CliIo Io { get; }

    public IAnsiConsole Console { get; }

    public RootCommand Root { get; }

    public Option<string?> Server { get; }

    public Option<string?> Token { get; }

    public Option<bool> Json { get; }

    /// <summary>A verb under <paramref name="parent"/> (the root by default) whose body gets a ready <see cref="Session"/>.</summary>
    public Command Define(string name, string description, Symbol[] symbols, Func<ParseResult, Session, CancellationToken, Task> body, Command? parent = null)
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
        command.SetAction((r, ct) => Session.RunAsync(Io, Console, r.GetValue(Server), r.GetValue(Token), r.GetValue(Json), s => body(r, s, ct), ct));
        (parent ?? Root).Subcommands.Add(command);
        return command;
    }

    /// <summary>A command that only groups others ("projections list", "projections rebuild").</summary>
    public Command Group(string name, string description)
    {
        var command = new Command(name, description);
        Root.Subcommands.Add(command);
        return command;
    }

    /// <summary>A VM, host, … named by uuid or name label; completes names from the server when the shell asks.</summary>
    public Argument<string> Named(string name, string description, string listPath)
    {
        var argument = new Argument<string>(name) { Description = description };
        argument.CompletionSources.Add(context => Completions.NamesFromServer(this, context.ParseResult, listPath));
        return argument;
    }

    /// <summary>An object the CLI names only by uuid (VBDs, VIFs, tasks): anything else is a usage error.</summary>
    public static Argument<string> Uuid(string name, string kind) => new(name)
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

    /// <summary>An ISO-8601 time option (UTC unless an offset is given).</summary>
    public static Option<DateTimeOffset?> Time(string name, string description) => new(name)
    {
        HelpName = "time",
        Description = description,
        CustomParser = result =>
        {
            var text = result.Tokens.Single().Value;
            if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
            {
                return time;
            }
            result.AddError($"{name} must be an ISO-8601 time such as 2025-01-31T12:00:00Z, not '{text}'");
            return null;
        },
    };

    /// <summary>--watch: send the command with ?async=true and follow its task with a progress bar.</summary>
    public static Option<bool> Watch() => new("--watch")
    {
        Description = "Answer at once with the task (?async=true) and show its progress until it ends",
    };

    private static IAnsiConsole CreateConsole(CliIo io)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(io.Out),
            Interactive = io.Interactive switch
            {
                true => InteractionSupport.Yes,
                false => InteractionSupport.No,
                null => InteractionSupport.Detect,
            },
            Ansi = io.Interactive == true ? AnsiSupport.Yes : AnsiSupport.Detect,
        });
        if (!console.Profile.Out.IsTerminal)
        {
            console.Profile.Width = 240; // piped or captured: keep uuids on one line instead of wrapping at 80 columns
        }
        return console;
    }
}
