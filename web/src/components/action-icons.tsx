import { Icon, type IconProps } from "./icons";

/** More outline icons (24×24, stroke), in the style of ./icons.tsx, for actions and tables. */

export const PlusIcon = (props: IconProps) => <Icon {...props} d="M12 4.5v15m7.5-7.5h-15" />;

export const TrashIcon = (props: IconProps) => (
  <Icon
    {...props}
    d="M4 7h16m-10 4v6m4-6v6M5.5 7l1 12a2 2 0 0 0 2 2h7a2 2 0 0 0 2-2l1-12M9 7V4.5A1.5 1.5 0 0 1 10.5 3h3A1.5 1.5 0 0 1 15 4.5V7"
  />
);

export const PauseIcon = (props: IconProps) => (
  <Icon {...props} d="M15.75 5.25v13.5m-7.5-13.5v13.5" />
);

export const PlayIcon = (props: IconProps) => (
  <Icon
    {...props}
    d="M5.25 5.653c0-.856.917-1.398 1.667-.986l11.54 6.347a1.125 1.125 0 0 1 0 1.972l-11.54 6.347a1.125 1.125 0 0 1-1.667-.986V5.653Z"
  />
);

export const ExternalLinkIcon = (props: IconProps) => (
  <Icon
    {...props}
    d="M13.5 6H5.25A2.25 2.25 0 0 0 3 8.25v10.5A2.25 2.25 0 0 0 5.25 21h10.5A2.25 2.25 0 0 0 18 18.75V10.5m-10.5 6L21 3m0 0h-5.25M21 3v5.25"
  />
);

export const SearchIcon = (props: IconProps) => (
  <Icon
    {...props}
    d="m21 21-5.197-5.197m0 0A7.5 7.5 0 1 0 5.196 5.196a7.5 7.5 0 0 0 10.607 10.607Z"
  />
);

export const ChevronRightIcon = (props: IconProps) => (
  <Icon {...props} d="m8.25 4.5 7.5 7.5-7.5 7.5" />
);

export const CopyIcon = (props: IconProps) => (
  <Icon
    {...props}
    d="M15.75 17.25v3.375c0 .621-.504 1.125-1.125 1.125h-9.75a1.125 1.125 0 0 1-1.125-1.125V7.875c0-.621.504-1.125 1.125-1.125H6.75a9.06 9.06 0 0 1 1.5.124m7.5 10.376h3.375c.621 0 1.125-.504 1.125-1.125V11.25c0-4.46-3.243-8.161-7.5-8.876a9.06 9.06 0 0 0-1.5-.124H9.375c-.621 0-1.125.504-1.125 1.125v3.5m7.5 10.375H9.375a1.125 1.125 0 0 1-1.125-1.125v-9.25m12 6.625v-1.875a3.375 3.375 0 0 0-3.375-3.375h-1.5a1.125 1.125 0 0 1-1.125-1.125v-1.5a3.375 3.375 0 0 0-3.375-3.375H9.75"
  />
);

export const XMarkIcon = (props: IconProps) => <Icon {...props} d="M6 18 18 6M6 6l12 12" />;

export const DownloadIcon = (props: IconProps) => (
  <Icon
    {...props}
    d="M3 16.5v2.25A2.25 2.25 0 0 0 5.25 21h13.5A2.25 2.25 0 0 0 21 18.75V16.5M16.5 12 12 16.5m0 0L7.5 12m4.5 4.5V3"
  />
);
